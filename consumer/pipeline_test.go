package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/batcher"
	"github.com/profile-ingest/profile-ingest/dlq"
	"github.com/profile-ingest/profile-ingest/internal/buildinfo"
	"github.com/profile-ingest/profile-ingest/profile"
	"github.com/profile-ingest/profile-ingest/sender"
)

// fakeDispatch keeps submitted chunks; the test resolves them with the results it chooses.
type fakeDispatch struct {
	mu     sync.Mutex
	chunks []batcher.Chunk
	dones  []func(batcher.Chunk, []sender.Result)
}

func (f *fakeDispatch) Submit(_ context.Context, c batcher.Chunk, done func(batcher.Chunk, []sender.Result)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chunks, f.dones = append(f.chunks, c), append(f.dones, done)
	return nil
}

func (f *fakeDispatch) Wait(context.Context) error { return nil }

// resolve answers chunk i: outcome per record from pick.
func (f *fakeDispatch) resolve(i int, pick func(batcher.Record) sender.Result) {
	f.mu.Lock()
	c, done := f.chunks[i], f.dones[i]
	f.mu.Unlock()
	rs := make([]sender.Result, len(c.Records))
	for j, r := range c.Records {
		rs[j] = pick(r)
	}
	done(c, rs)
}

// fakeDead acknowledges dead letters unless down.
type fakeDead struct {
	mu      sync.Mutex
	down    bool
	written []dlq.Record
}

func (f *fakeDead) Write(_ context.Context, recs ...dlq.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("dead-letter topic unavailable")
	}
	f.written = append(f.written, recs...)
	return nil
}

type commits struct {
	mu   sync.Mutex
	last map[string]map[int]int64
}

func (c *commits) commit(_ context.Context, o map[string]map[int]int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = o
	return nil
}

func (c *commits) at(tp TopicPartition) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if off, ok := c.last[tp.Topic][tp.Partition]; ok {
		return off
	}
	return -1
}

// testPipeline is a pipeline over partition t/0 from offset 0, with fakes behind it.
func testPipeline(t *testing.T, dead *fakeDead) (*pipeline, *fakeDispatch, *commits) {
	t.Helper()
	dec, err := profile.NewDecoder(profile.Options{WorkspaceKey: "k", UserAgent: buildinfo.UserAgent()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Brokers, cfg.Topics, cfg.GroupID = []string{"127.0.0.1:1"}, []string{"t"}, "g"
	disp := &fakeDispatch{}
	w, err := New(cfg, dec.DecodeTo,
		batcher.Config{MaxRecords: 400, MaxBytes: 819200, Linger: time.Second}, disp, dead)
	if err != nil {
		t.Fatal(err)
	}
	c := &commits{}
	p := w.newPipeline(t.Context(), c.commit, nil)
	p.assign(TopicPartition{"t", 0}, kafka.FirstOffset)
	go p.deadLetterLoop()
	t.Cleanup(func() { close(p.dlqIn) })
	return p, disp, c
}

var tp0 = TopicPartition{"t", 0}

// submitQueued submits the queued chunks, as submitLoop does while the pipeline runs.
func submitQueued(p *pipeline) {
	for _, c := range p.queued {
		p.dispatch(c)
	}
	p.queued = nil
}

func record(offset int64, value string) fetched {
	return fetched{tp: tp0, msg: kafka.Message{Topic: "t", Offset: offset, Key: []byte("u"), Value: []byte(value), Time: time.Unix(1700000000, 0)}}
}

const (
	goodA = `{"distinct_id":"a","operations":[{"set":{"n":1}}]}`
	goodB = `{"distinct_id":"b","operations":[{"set":{"n":2}}]}`
	bad   = `{"distinct_id":"c","operations":[{"add_email":"nope"}]}`
)

// drainAcks handles what the dead-letter loop and the dispatcher handed back, as loop does.
func drainAcks(p *pipeline, want int) {
	deadline := time.After(5 * time.Second)
	for p.recs.len() > want {
		select {
		case refs := <-p.dlqAcks:
			p.resolveRefs(refs)
		case d := <-p.done:
			p.handleResults(d)
		case <-deadline:
			return
		}
	}
}

func delivered(batcher.Record) sender.Result { return sender.Result{Outcome: sender.Delivered} }

// abandonKey returns results that abandon the records of user key and deliver the others.
func abandonKey(key string) func(batcher.Record) sender.Result {
	return func(r batcher.Record) sender.Result {
		if r.Key == key {
			return sender.Result{Outcome: sender.Abandoned, Err: context.Canceled}
		}
		return sender.Result{Outcome: sender.Delivered}
	}
}

func TestPipelineCommitsPastDeliveredAndDeadLettered(t *testing.T) {
	dead := &fakeDead{}
	p, disp, c := testPipeline(t, dead)
	for i, v := range []string{goodA, bad, goodB} {
		p.takeDecoded(record(int64(i), v))
	}
	p.flushAll(batcher.FlushShutdown, time.Time{})
	submitQueued(p)
	disp.resolve(0, delivered)
	drainAcks(p, 0)
	p.commit(false)
	if got := c.at(tp0); got != 3 {
		t.Fatalf("committed %d, want 3 (everything resolved)", got)
	}
	if len(dead.written) != 1 || string(dead.written[0].Value) != bad || dead.written[0].Reason != "invalid_operation" ||
		dead.written[0].Origin.Offset != 1 || dead.written[0].Status != 0 {
		t.Fatalf("dead letters: %+v", dead.written)
	}
}

func TestPipelineHoldsOffsetsWhileDeadLettersFail(t *testing.T) {
	dead := &fakeDead{down: true}
	p, disp, c := testPipeline(t, dead)
	for i, v := range []string{goodA, bad, goodB} {
		p.takeDecoded(record(int64(i), v))
	}
	p.flushAll(batcher.FlushShutdown, time.Time{})
	submitQueued(p)
	disp.resolve(0, delivered)
	drainAcks(p, 1)
	p.commit(false)
	if got := c.at(tp0); got != 1 {
		t.Fatalf("committed %d, want 1: the record at 1 is not durable anywhere", got)
	}
	if p.recs.len() != 1 {
		t.Fatalf("%d records unresolved, want the bad one", p.recs.len())
	}
}

func TestPipelineDeadLettersRefusedRecordsWithTheirStatus(t *testing.T) {
	dead := &fakeDead{}
	p, disp, c := testPipeline(t, dead)
	p.takeDecoded(record(0, goodA))
	p.takeDecoded(record(1, goodB))
	p.flushAll(batcher.FlushShutdown, time.Time{})
	submitQueued(p)
	now := time.Now()
	disp.resolve(0, func(r batcher.Record) sender.Result {
		if r.Key == "b" {
			return sender.Result{Outcome: sender.Failed, Reason: sender.ReasonRejected, Status: 400,
				Err: errors.New("400: unknown field"), Attempts: 9, FirstFailure: now, LastFailure: now}
		}
		return sender.Result{Outcome: sender.Delivered}
	})
	drainAcks(p, 0)
	p.commit(false)
	if got := c.at(tp0); got != 2 {
		t.Fatalf("committed %d, want 2", got)
	}
	d := dead.written
	if len(d) != 1 || d[0].Reason != "rejected" || d[0].Status != 400 || d[0].Attempts != 9 || d[0].Err != "400: unknown field" {
		t.Fatalf("dead letters: %+v", d)
	}
}

// A dead letter carries the $insert_id its record was sent with; a replayed record (one with
// the header) is sent with that id again, and keeps it if it fails again.
func TestPipelineCarriesInsertIDsThroughDeadLetters(t *testing.T) {
	dead := &fakeDead{}
	p, disp, _ := testPipeline(t, dead)
	p.takeDecoded(record(0, goodA))
	replayed := record(1, goodB)
	replayed.msg.Headers = []kafka.Header{{Key: dlq.HeaderInsertID, Value: []byte("first-delivery-of-b")}}
	p.takeDecoded(replayed)
	p.flushAll(batcher.FlushShutdown, time.Time{})
	submitQueued(p)
	sent := map[string]string{}
	disp.resolve(0, func(r batcher.Record) sender.Result {
		var ev struct {
			InsertID string `json:"$insert_id"`
		}
		if err := json.Unmarshal(r.Body, &ev); err != nil {
			t.Fatal(err)
		}
		sent[r.Key] = ev.InsertID
		return sender.Result{Outcome: sender.Failed, Reason: sender.ReasonRetriesExhausted, Status: 503}
	})
	drainAcks(p, 0)
	if want := profile.InsertIDFor(profile.Origin{Topic: "t", Partition: 0, Offset: 0}); sent["a"] != want || sent["b"] != "first-delivery-of-b" {
		t.Fatalf("sent with insert ids %v, want a's derived from its offset (%s) and b's carried", sent, want)
	}
	if len(dead.written) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dead.written))
	}
	user := map[string]string{goodA: "a", goodB: "b"}
	for _, d := range dead.written {
		if u := user[string(d.Value)]; d.InsertID != sent[u] {
			t.Errorf("dead letter of %s has insert id %q, want the one it was sent with, %q", u, d.InsertID, sent[u])
		}
	}
}

func TestPipelineNeverCommitsAbandonedRecords(t *testing.T) {
	p, disp, c := testPipeline(t, &fakeDead{})
	p.takeDecoded(record(0, goodA))
	p.takeDecoded(record(1, goodB))
	p.flushAll(batcher.FlushShutdown, time.Time{})
	submitQueued(p)
	disp.resolve(0, abandonKey("a"))
	p.handleResults(<-p.done)
	p.commit(true)
	if got := c.at(tp0); got != 0 {
		t.Fatalf("committed %d, want 0: the record at 0 was abandoned, not delivered", got)
	}
}

// Records of every owned partition that arrive within one linger go out in one chunk, and each
// record's result resolves its own partition's offset: an abandoned record of partition 2
// holds back partition 2 only.
func TestPipelineFillsChunksAcrossPartitions(t *testing.T) {
	p, disp, c := testPipeline(t, &fakeDead{})
	const parts, perPart = 4, 3
	for n := 1; n < parts; n++ {
		p.assign(TopicPartition{"t", n}, kafka.FirstOffset)
	}
	for off := range perPart {
		for n := range parts {
			v := fmt.Sprintf(`{"distinct_id":"u%d-%d","operations":[{"set":{"n":1}}]}`, n, off)
			p.takeDecoded(fetched{tp: TopicPartition{"t", n}, msg: kafka.Message{Topic: "t", Partition: n, Offset: int64(off), Value: []byte(v)}})
		}
	}
	// The timer fires once the first record has waited the linger.
	p.flushAll(batcher.FlushLinger, time.Now().Add(p.w.batch.Linger))
	submitQueued(p)
	if len(disp.chunks) != 1 {
		t.Fatalf("%d chunks for %d records of %d partitions taken within one linger, want 1", len(disp.chunks), parts*perPart, parts)
	}
	if got := len(disp.chunks[0].Records); got != parts*perPart {
		t.Fatalf("the chunk holds %d records, want %d", got, parts*perPart)
	}
	disp.resolve(0, abandonKey("u2-1"))
	p.handleResults(<-p.done)
	p.commit(true)
	for n := range parts {
		want := int64(perPart)
		if n == 2 {
			want = 1 // offset 1 was abandoned: nothing at or after it is committed
		}
		if got := c.at(TopicPartition{"t", n}); got != want {
			t.Errorf("partition %d committed %d, want %d", n, got, want)
		}
	}
}

// stuckDispatch delivers the first chunk at once and holds every later one in Submit until the
// context ends, as a dispatcher full of chunks the API refuses does.
type stuckDispatch struct {
	mu  sync.Mutex
	got int
}

func (s *stuckDispatch) Submit(ctx context.Context, c batcher.Chunk, done func(batcher.Chunk, []sender.Result)) error {
	s.mu.Lock()
	s.got++
	first := s.got == 1
	s.mu.Unlock()
	if !first {
		<-ctx.Done()
		return context.Cause(ctx)
	}
	rs := make([]sender.Result, len(c.Records))
	for i := range rs {
		rs[i] = sender.Result{Outcome: sender.Delivered}
	}
	go done(c, rs)
	return nil
}

func (s *stuckDispatch) Wait(context.Context) error { return nil }

// While a Submit blocks, the pipeline still commits what resolved and, once shutdown comes,
// ends its drain at the deadline instead of waiting for the dispatcher.
func TestPipelineDoesNotWaitOnABlockedSubmit(t *testing.T) {
	p, _, c := testPipeline(t, &fakeDead{})
	p.w.dispatch = &stuckDispatch{}
	p.w.cfg.CommitInterval, p.w.cfg.DrainTimeout = 20*time.Millisecond, 200*time.Millisecond
	sendCtx, cancelSend := context.WithCancel(context.Background())
	defer cancelSend()
	p.sendCtx = sendCtx
	go p.submitLoop()
	defer close(p.toSubmit)
	p.takeDecoded(record(0, goodA))
	p.flushAll(batcher.FlushLinger, time.Time{})
	p.takeDecoded(record(1, goodB))
	p.flushAll(batcher.FlushLinger, time.Time{})

	ctx, stop := context.WithCancel(context.Background())
	ended := make(chan bool, 1)
	go func() {
		p.loop(ctx, context.Background(), nil, nil)
		ended <- p.drain(ctx, nil, cancelSend)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for c.at(tp0) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("committed %d while the second chunk waits in Submit, want 1", c.at(tp0))
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	select {
	case timedOut := <-ended:
		if !timedOut {
			t.Fatal("the drain reports no timeout, yet a record was never resolved")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the drain did not end at its deadline while Submit blocks")
	}
	p.commit(true)
	if got := c.at(tp0); got != 1 {
		t.Fatalf("committed %d after the drain, want 1: the record at 1 was abandoned", got)
	}
}

// At a rate that fills several chunks per linger, an API that answers each chunk before the
// next one closes keeps one lane: parallel lanes would send as many requests a second, each
// chunk filling slower, its records waiting longer (the latency scenario of issue 12: 10,000
// records/s with a 100 ms linger waited about twice the fill time of one chunk with two lanes).
func TestPipelineKeepsOneLaneWhileTheAPIKeepsUp(t *testing.T) {
	p, disp, _ := testPipeline(t, &fakeDead{})
	off := int64(0)
	settled := 0
	for window := range 3 {
		p.window = time.Now().Add(-rateWindow)
		for range 1000 { // 2.5 chunks per 1 s linger, each answered as soon as it closes
			v := fmt.Sprintf(`{"distinct_id":"u%d","operations":[{"set":{"n":%d}}]}`, off%50, off)
			p.takeDecoded(record(off, v))
			off++
			submitQueued(p)
			for ; settled < len(disp.chunks); settled++ {
				disp.resolve(settled, delivered)
				p.handleResults(<-p.done)
			}
		}
		if p.width != 1 {
			t.Fatalf("window %d: width %d while the API answered every chunk before the next closed, want 1", window, p.width)
		}
	}
	for _, c := range disp.chunks {
		if c.Reason == batcher.FlushResize {
			t.Errorf("a chunk closed by a resize: the width changed")
		}
	}
}

// At a rate that fills several chunks per linger the pipeline keeps several lanes open, users
// split between them, narrows back to one when the rate drops, and opens every lane at once
// when closed chunks wait on the API; across every change each user's records are submitted
// in offset order.
func TestPipelineLanesFollowTheRateAndKeepUserOrder(t *testing.T) {
	p, disp, _ := testPipeline(t, &fakeDead{})
	off := int64(0)
	takeN := func(n int) {
		for range n {
			v := fmt.Sprintf(`{"distinct_id":"u%d","operations":[{"set":{"n":%d}}]}`, off%50, off)
			p.takeDecoded(record(off, v))
			off++
		}
	}
	settled := 0
	settle := func() { // the API accepts every submitted chunk
		submitQueued(p)
		for ; settled < len(disp.chunks); settled++ {
			disp.resolve(settled, delivered)
			p.handleResults(<-p.done)
		}
	}
	takeN(1000) // two full chunks, 200 records open
	settle()
	// 1000 records in the last rate window of a 1 s linger: 2.5 chunks fill per linger.
	p.window = time.Now().Add(-rateWindow)
	takeN(1000)
	if p.width != 2 {
		t.Fatalf("width %d after 1000 records a second with a 1s linger, want 2", p.width)
	}
	if p.lanes[0].Len() == 0 || p.lanes[1].Len() == 0 {
		t.Fatalf("open records per lane %d and %d: users not split between the lanes", p.lanes[0].Len(), p.lanes[1].Len())
	}
	settle()
	p.window = time.Now().Add(-rateWindow)
	p.windowRecs = 10
	takeN(10)
	if p.width != 1 {
		t.Fatalf("width %d after 10 records a second, want 1", p.width)
	}
	settle()
	// Five full chunks unresolved, more than the four lanes send at once: every lane, at once.
	takeN(2001)
	if p.width != len(p.lanes) {
		t.Fatalf("width %d while %d chunks wait on the API, want every lane (%d) at once", p.width, p.unresolved, len(p.lanes))
	}
	p.flushAll(batcher.FlushShutdown, time.Time{})
	settle()

	last := map[string]int64{}
	reasons := map[batcher.FlushReason]int{}
	total := 0
	for _, c := range disp.chunks {
		reasons[c.Reason]++
		for _, r := range c.Records {
			m := setN.FindSubmatch(r.Body)
			if m == nil {
				t.Fatalf("user %s: body %s does not set n", r.Key, r.Body)
			}
			o, _ := strconv.ParseInt(string(m[1]), 10, 64) // each record sets n to its offset
			if prev, ok := last[r.Key]; ok && o <= prev {
				t.Fatalf("user %s: offset %d submitted after %d", r.Key, o, prev)
			}
			last[r.Key] = o
			total++
		}
	}
	if total != int(off) {
		t.Fatalf("%d records submitted, want %d", total, off)
	}
	if reasons[batcher.FlushResize] < 3 {
		t.Errorf("chunks by reason %v: want open chunks closed at every width change", reasons)
	}
	if p.unresolved != 0 {
		t.Errorf("%d chunks counted unresolved after every one was resolved", p.unresolved)
	}
}

var setN = regexp.MustCompile(`"n":(\d+)`)

// takeDecoded decodes f as the decode pool would, then takes it.
func (p *pipeline) takeDecoded(f fetched) *batcher.Batcher {
	if !f.gap {
		p.w.decodeItem(&f, p.budget, nil)
	}
	return p.take(&f, time.Now())
}

// refOf returns the ref of tp's record at offset while it is in flight, 0 when none is.
func (p *pipeline) refOf(tp TopicPartition, offset int64) uint64 {
	for i, s := range p.recs.slots {
		if s.used && s.rec.tp == tp && s.rec.msg.Offset == offset {
			return uint64(s.uses)<<32 | uint64(i)
		}
	}
	return 0
}
