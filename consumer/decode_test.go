package consumer

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/profile"
)

// The records of one partition, cut into decode batches that four goroutines decode at once,
// the first batch finishing last (its first record waits until the second batch is decoded):
// the pipeline still takes them in offset order, so the chunk holds them in offset order and
// the partition commits past all of them.
func TestDecodedOutOfOrderReachesTheBatchersInOffsetOrder(t *testing.T) {
	p, disp, c := testPipeline(t, &fakeDead{})
	p.w.cfg.DecodeWorkers = 4
	const n = 3 * batchRecords
	var secondLast int64 // the offset of the second batch's last record
	secondDone := make(chan struct{})
	var finished []int64 // offsets in the order their decoding finished
	var mu sync.Mutex
	inner := p.w.decode
	p.w.decode = func(buf, v []byte, o profile.Origin) (profile.Event, error) {
		if o.Offset == 0 {
			<-secondDone
		}
		ev, err := inner(buf, v, o)
		mu.Lock()
		finished = append(finished, o.Offset)
		mu.Unlock()
		if o.Offset == secondLast {
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
	bs := batches(run)
	if len(bs) < 3 {
		t.Fatalf("%d records make %d decode batches, want 3 at least", n, len(bs))
	}
	first := bs[0].items
	secondLast = bs[1].items[len(bs[1].items)-1].msg.Offset
	if !f.interleave(ctx, [][]*decodeBatch{bs}) {
		t.Fatal("interleave gave up")
	}
	eventually(t, "every record submitted (one taken out of its partition's offset order is refused, never submitted)", func() bool { return disp.records() == n })
	cancel()
	<-ended
	pool.stop()

	mu.Lock()
	if len(finished) != n || slices.Index(finished, first[len(first)-1].msg.Offset) < slices.Index(finished, secondLast) {
		t.Fatalf("decoding finished in the order %v: the fault did not make the first batch finish after the second", finished)
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
	p.w.decode = func(_, _ []byte, _ profile.Origin) (profile.Event, error) {
		<-gate
		return profile.Event{}, &profile.Error{Reason: profile.ReasonInvalidMessage, Msg: "x"}
	}
	p.w.cfg.DecodeWorkers = 3
	ctx, cancel := context.WithCancel(t.Context())
	pool := p.w.startDecodePool(ctx, p.budget)
	for range 2 * p.w.cfg.DecodeWorkers {
		pool.work <- &decodeBatch{items: []fetched{{tp: tp0, msg: kafka.Message{Value: []byte("{}")}}}, done: make(chan struct{})}
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

// batches cuts items into decode batches as the fetch loop does.
func batches(items []fetched) []*decodeBatch {
	var bb batchBuilder
	for _, it := range items {
		bb.add(it)
	}
	return bb.finish()
}

// Decode batches start small and double up to batchRecords records; one closes early at
// batchBytes of values; a batch of gaps only needs no decoding.
func TestBatchBuilderCutsByRecordsAndBytes(t *testing.T) {
	var items []fetched
	for off := range int64(300) {
		items = append(items, fetched{tp: tp0, msg: kafka.Message{Offset: off, Value: make([]byte, 10)}})
	}
	var sizes []int
	for _, b := range batches(items) {
		sizes = append(sizes, len(b.items))
	}
	if want := []int{16, 32, 64, 128, 60}; !slices.Equal(sizes, want) {
		t.Errorf("300 small records cut into batches of %v, want %v", sizes, want)
	}
	big := []fetched{{msg: kafka.Message{Value: make([]byte, batchBytes)}}, {msg: kafka.Message{Value: []byte("x")}}}
	if bs := batches(big); len(bs) != 2 {
		t.Errorf("a record of batchBytes and one more make %d batches, want 2", len(bs))
	}
	bs := batches([]fetched{{tp: tp0, gap: true, upTo: 5}})
	select {
	case <-bs[0].done:
	default:
		t.Error("a batch of gaps only waits for decoding")
	}
}

// A decode batch's events share one body buffer: each body must be exactly the one its record
// decodes to alone, whatever the sizes around it (small, near the event limit, refused as too
// large, refused as invalid).
func TestDecodeBatchBodiesShareOneBufferIntact(t *testing.T) {
	p, _, _ := testPipeline(t, &fakeDead{})
	var items []fetched
	for i, pad := range []int{0, 5000, 10, 9800, 20000, 1, 3000, 0, 700} {
		v := fmt.Sprintf(`{"distinct_id":"u%d","operations":[{"set":{"pad":%q}}]}`, i, strings.Repeat("p", pad))
		if i == 7 {
			v = `{"distinct_id":` // invalid
		}
		items = append(items, record(int64(i), v))
	}
	b := &decodeBatch{items: items, done: make(chan struct{})}
	(&decodePool{w: p.w, budget: newBudget(1 << 30)}).decode(b)
	shared := 0
	for i, it := range b.items {
		want, werr := p.w.decode(nil, it.msg.Value, profile.Origin{Topic: it.tp.Topic, Partition: it.tp.Partition,
			Offset: it.msg.Offset, Timestamp: it.msg.Time, Key: it.msg.Key})
		if (werr == nil) != (it.err == nil) || string(it.ev.Body) != string(want.Body) {
			t.Errorf("record %d: body %.80q (err %v), want %.80q (err %v)", i, it.ev.Body, it.err, want.Body, werr)
		}
		if i > 0 && len(it.ev.Body) > 0 && len(b.items[i-1].ev.Body) > 0 && cap(it.ev.Body) > len(it.ev.Body) {
			shared++ // a body with room after it is a slice of the shared buffer
		}
	}
	if shared == 0 {
		t.Errorf("no body went to the batch's shared buffer")
	}
}
