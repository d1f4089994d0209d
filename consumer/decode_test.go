package consumer

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/profile"
)

// The records of one partition, cut into three decode batches that four goroutines decode at
// once, the first batch finishing last (its first record waits until the second batch is
// decoded): the pipeline still takes them in offset order, so the chunk holds them in offset
// order and the partition commits past all of them.
func TestDecodedOutOfOrderReachesTheBatchersInOffsetOrder(t *testing.T) {
	p, disp, c := testPipeline(t, &fakeDead{})
	p.w.cfg.DecodeWorkers = 4
	const n = 3 * batchRecords
	secondDone := make(chan struct{})
	var finished []int64 // offsets in the order their decoding finished
	var mu sync.Mutex
	inner := p.w.decode
	p.w.decode = func(v []byte, o profile.Origin) (profile.Event, error) {
		if o.Offset == 0 {
			<-secondDone
		}
		ev, err := inner(v, o)
		mu.Lock()
		finished = append(finished, o.Offset)
		mu.Unlock()
		if o.Offset == 2*batchRecords-1 {
			close(secondDone)
		}
		return ev, err
	}
	var run []fetched
	var want []string
	for off := range int64(n) {
		id := fmt.Sprintf("u%d", off)
		run = append(run, fetched{tp: tp0, msg: kafka.Message{Topic: "t", Offset: off,
			Value: fmt.Appendf(nil, `{"distinct_id":%q,"operations":[{"set":{"n":%d}}]}`, id, off)}})
		want = append(want, id)
	}

	ctx, cancel := context.WithCancel(t.Context())
	in := make(chan *decodeBatch, queueDepth(p.w.cfg.DecodeWorkers))
	pool := p.w.startDecodePool(ctx, p.budget)
	f := &fetcher{w: p.w, out: in, pool: pool}
	go p.submitLoop()
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		p.loop(ctx, t.Context(), in, nil)
		p.flushAll(flushReason(ctx), time.Time{})
		for _, ch := range p.queued {
			p.dispatch(ch)
		}
		close(p.toSubmit)
	}()
	if !f.interleave(ctx, [][]fetched{run}) {
		t.Fatal("interleave gave up")
	}
	eventually(t, "every record submitted (one taken out of its partition's offset order is refused, never submitted)", func() bool { return disp.records() == n })
	cancel()
	<-ended
	pool.stop()

	mu.Lock()
	if len(finished) != n || finished[len(finished)-1] >= batchRecords {
		t.Fatalf("decoding finished in the order %v...: the fault did not make the first batch finish last", finished[:min(len(finished), 5)])
	}
	mu.Unlock()
	var got []string
	for _, ch := range disp.chunks {
		for _, r := range ch.Records {
			got = append(got, r.Key)
		}
	}
	if !slices.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%d records reached the batchers; the first out of offset order is #%d (%v, want %v)", len(got), i, got[i:min(i+3, len(got))], want[i:min(i+3, len(want))])
	}
	for i := range disp.chunks {
		disp.resolve(i, delivered)
		p.handleResults(<-p.done)
	}
	p.commit(true)
	if got := c.at(tp0); got != n {
		t.Errorf("committed %d, want %d", got, n)
	}
}

// A generation's end stops the decode pool's goroutines, even with batches queued that no one
// will take, and leaves none of them behind.
func TestDecodePoolEndsWithItsContext(t *testing.T) {
	p, _, _ := testPipeline(t, &fakeDead{})
	before := runtime.NumGoroutine()
	gate := make(chan struct{})
	p.w.decode = func([]byte, profile.Origin) (profile.Event, error) {
		<-gate
		return profile.Event{}, &profile.Error{Reason: profile.ReasonInvalidMessage, Msg: "x"}
	}
	p.w.cfg.DecodeWorkers = 3
	ctx, cancel := context.WithCancel(t.Context())
	pool := p.w.startDecodePool(ctx, p.budget)
	for range 2 * p.w.cfg.DecodeWorkers {
		pool.work <- batches([]fetched{{tp: tp0, msg: kafka.Message{Value: []byte("{}")}}})[0]
	}
	cancel()
	close(gate) // the batches being decoded finish; the ones queued are left
	stopped := make(chan struct{})
	go func() { pool.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the decode pool did not stop once its context ended")
	}
	eventually(t, "the pool's goroutines gone", func() bool { return runtime.NumGoroutine() <= before })
}

// records counts the records submitted so far.
func (f *fakeDispatch) records() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.chunks {
		n += len(c.Records)
	}
	return n
}

// eventually polls cond until it holds, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
