package consumer

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/batcher"
	"github.com/profile-ingest/profile-ingest/internal/kafkafetch"
	"github.com/profile-ingest/profile-ingest/profile"
)

// transactionalAnswer is one partition's fetch answer: producer 1 commits a transaction (a, b),
// producer 2's transaction (x, y) is aborted, interleaved with it and with a plain record (p);
// then producer 2's next transaction (z), not aborted.
func transactionalAnswer(t *testing.T) *kafkafetch.AnswerPartition {
	var recs []byte
	add := func(b kafkafetch.Batch, r kafkafetch.Record) {
		var err error
		b.BaseOffset, b.LastOffset, b.BaseTime = r.Offset, r.Offset, r.Time.UnixMilli()
		if recs, err = kafkafetch.AppendBatch(recs, b, r); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Unix(1700000000, 0)
	data := func(pid, off int64, v string) {
		attrs := int16(0)
		if pid >= 0 {
			attrs = 0x10 // transactional
		}
		add(kafkafetch.Batch{Attributes: attrs, ProducerID: pid}, kafkafetch.Record{Offset: off, Time: at, Value: []byte(v)})
	}
	marker := func(pid, off int64, commit bool) {
		typ := byte(0)
		if commit {
			typ = 1
		}
		add(kafkafetch.Batch{Attributes: 0x30, ProducerID: pid}, // control, transactional
			kafkafetch.Record{Offset: off, Time: at, Key: []byte{0, 0, 0, typ}, Value: []byte{0, 0, 0, 0, 0, 0}})
	}
	data(1, 0, "a")
	data(2, 1, "x")
	data(-1, 2, "p")
	data(2, 3, "y")
	data(1, 4, "b")
	marker(1, 5, true)
	marker(2, 6, false)
	data(2, 7, "z")
	marker(2, 8, true)
	return &kafkafetch.AnswerPartition{HighWatermark: 9, LastStableOffset: 9,
		Aborted: []kafkafetch.Aborted{{ProducerID: 2, FirstOffset: 1}}, Records: recs}
}

// testFetcher is a fetch loop's state for calling records directly.
func testFetcher(t *testing.T, level kafka.IsolationLevel) *fetcher {
	t.Helper()
	cfg := Default()
	cfg.Brokers, cfg.Topics, cfg.GroupID, cfg.IsolationLevel = []string{"127.0.0.1:1"}, []string{"t"}, "g", level
	w, err := New(cfg, func(_, _ []byte, _ profile.Origin) (profile.Event, error) { return profile.Event{}, nil },
		batcher.Config{MaxRecords: 400, MaxBytes: 819200, Linger: time.Second}, &fakeDispatch{}, &fakeDead{})
	if err != nil {
		t.Fatal(err)
	}
	return &fetcher{w: w, budget: newBudget(1 << 20)}
}

// deliverAnswer runs records over transactionalAnswer at the isolation level and returns the values
// delivered and the gap items' offsets, in order.
func deliverAnswer(t *testing.T, level kafka.IsolationLevel, from int64) (values []string, gaps []int64, pos int64) {
	t.Helper()
	f := testFetcher(t, level)
	p := &partFetch{tp: TopicPartition{"t", 0}, pos: from}
	bs, err := f.records(p, transactionalAnswer(t))
	if err != nil {
		t.Fatal(err)
	}
	values, gaps = itemsOf(bs)
	return values, gaps, p.pos
}

// itemsOf returns the values of the records of bs and the offsets of their gap items, in order.
func itemsOf(bs []*decodeBatch) (values []string, gaps []int64) {
	for _, b := range bs {
		for _, it := range b.items {
			if it.gap {
				gaps = append(gaps, it.upTo)
			} else {
				values = append(values, string(it.msg.Value))
			}
		}
	}
	return values, gaps
}

// TestDeliverReadCommitted: records of the aborted transaction and every marker are left out,
// the records of committed transactions and plain ones delivered in order, and the position
// moves past the trailing marker, which the pipeline hears of as a gap.
func TestDeliverReadCommitted(t *testing.T) {
	values, gaps, pos := deliverAnswer(t, kafka.ReadCommitted, 0)
	if got, want := values, []string{"a", "p", "b", "z"}; !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
	if !slices.Equal(gaps, []int64{9}) || pos != 9 {
		t.Errorf("gaps %v, position %d; want a gap up to 9 and position 9", gaps, pos)
	}
	values, _, _ = deliverAnswer(t, kafka.ReadCommitted, 4) // a fetch from the middle of the answer
	if got, want := values, []string{"b", "z"}; !slices.Equal(got, want) {
		t.Errorf("from offset 4: delivered %q, want %q", got, want)
	}
}

// TestDeliverReadUncommitted: every data record is delivered, aborted ones included; markers
// never are.
func TestDeliverReadUncommitted(t *testing.T) {
	values, gaps, pos := deliverAnswer(t, kafka.ReadUncommitted, 0)
	if got, want := values, []string{"a", "x", "p", "y", "b", "z"}; !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
	if !slices.Equal(gaps, []int64{9}) || pos != 9 {
		t.Errorf("gaps %v, position %d; want a gap up to 9 and position 9", gaps, pos)
	}
}

// TestInterleaveTakesTurnsBetweenPartitions: the records of an answer reach the pipeline in
// decode batches, one partition after the other in turn, each partition's own order kept, and
// every batch with records goes to the decode pool too.
func TestInterleaveTakesTurnsBetweenPartitions(t *testing.T) {
	run := func(p int, from, n int64) (r []fetched) {
		for off := from; off < from+n; off++ {
			r = append(r, fetched{tp: TopicPartition{"t", p}, msg: kafka.Message{Partition: p, Offset: off}})
		}
		return r
	}
	out := make(chan *decodeBatch, 10)
	f := &fetcher{out: out, pool: &decodePool{work: make(chan *decodeBatch, 10)}}
	gap := fetched{tp: TopicPartition{"t", 2}, gap: true, upTo: 9}
	if !f.interleave(t.Context(), [][]*decodeBatch{batches(run(0, 0, 129)), batches(run(1, 7, 1)), batches(append(run(2, 3, 2), gap))}) {
		t.Fatal("interleave gave up")
	}
	close(out)
	close(f.pool.work)
	var got []string
	for b := range out {
		first, last := b.items[0], b.items[len(b.items)-1]
		got = append(got, fmt.Sprintf("%s@%d..%d", first.tp, first.msg.Offset, last.msg.Offset))
		if w := <-f.pool.work; w != b {
			t.Errorf("the pool got %v before %v, not in the pipeline's order", w.items[0], first)
		}
	}
	// t/0's batches hold 16, 32, 64 and 17 records; t/2's ends with its gap.
	want := []string{"t/0@0..15", "t/1@7..7", "t/2@3..0", "t/0@16..47", "t/0@48..111", "t/0@112..128"}
	if !slices.Equal(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}
}
