package consumer

import (
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/fetch"

	"github.com/profile-ingest/profile-ingest/batcher"
	"github.com/profile-ingest/profile-ingest/profile"
)

// compactedLog is one partition after the log cleaner: record batches keeping their offset
// ranges with some records removed, split into segments. answer fetches it the way a broker
// does: from the batch holding the offset (or the first one after it) to its segment's end.
type compactedLog struct {
	batches []compactedBatch
	end     int64 // the high watermark
}

type compactedBatch struct {
	base, last int64
	kept       []int64 // the offsets of the records left
	segmentEnd bool    // the last batch of its segment
}

func (l compactedLog) answer(q int64) *fetch.ResponsePartition {
	rp := &fetch.ResponsePartition{HighWatermark: l.end, LastStableOffset: l.end}
	var rs []protocol.RecordReader
	for _, b := range l.batches {
		if b.last < q {
			continue
		}
		var recs []protocol.Record
		for _, o := range b.kept {
			recs = append(recs, protocol.Record{Offset: o, Value: protocol.NewBytes([]byte(fmt.Sprint(o))), Time: time.Unix(1700000000, 0)})
		}
		rs = append(rs, &protocol.RecordBatch{BaseOffset: b.base, Records: protocol.NewRecordReader(recs...)})
		if b.segmentEnd {
			break
		}
	}
	if len(rs) > 0 {
		rp.RecordSet = protocol.RecordSet{Records: &protocol.RecordStream{Records: rs}}
	}
	return rp
}

// TestCompactedBatchTailsAreCrossed: whatever a compacted log looks like, fetching from the
// start delivers every record left, in order, moves to the end, and asks the broker a number of
// times that grows with the logarithm of a removed tail's length, not with the length.
func TestCompactedBatchTailsAreCrossed(t *testing.T) {
	logs := map[string]compactedLog{
		"a tail at a segment end": {end: 10, batches: []compactedBatch{
			{base: 0, last: 4, kept: []int64{0, 1}, segmentEnd: true}, {base: 5, last: 9, kept: []int64{5, 9}, segmentEnd: true}}},
		"an emptied batch kept for its producer, then a long tail": {end: 5000, batches: []compactedBatch{
			{base: 0, last: 2, kept: []int64{0}, segmentEnd: false}, {base: 3, last: 7, segmentEnd: true},
			{base: 8, last: 4000, kept: []int64{8}, segmentEnd: true}, {base: 4001, last: 4999, kept: []int64{4500}, segmentEnd: true}}},
		"a tail at the log's end": {end: 300, batches: []compactedBatch{
			{base: 0, last: 299, kept: []int64{10, 20}, segmentEnd: true}}},
	}
	for name, l := range logs {
		t.Run(name, func(t *testing.T) {
			cfg := Default()
			cfg.Brokers, cfg.Topics, cfg.GroupID = []string{"127.0.0.1:1"}, []string{"t"}, "g"
			w, err := New(cfg, func(_, _ []byte, _ profile.Origin) (profile.Event, error) { return profile.Event{}, nil },
				batcher.Config{MaxRecords: 400, MaxBytes: 819200, Linger: time.Second}, &fakeDispatch{}, &fakeDead{})
			if err != nil {
				t.Fatal(err)
			}
			f := &fetcher{w: w, budget: newBudget(1 << 20)}
			p := &partFetch{tp: TopicPartition{"t", 0}, pos: 0}
			var got, want []string
			for _, b := range l.batches {
				for _, o := range b.kept {
					want = append(want, fmt.Sprint(o))
				}
			}
			fetches := 0
			for p.pos < l.end {
				if fetches++; fetches > 100 {
					t.Fatalf("still at offset %d after 100 fetches (end %d); delivered %v", p.pos, l.end, got)
				}
				for _, b := range f.records(p, l.answer(p.fetchAt())) {
					for _, it := range b.items {
						if !it.gap {
							got = append(got, string(it.msg.Value))
						}
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("delivered %v, want %v", got, want)
			}
			if p.pos != l.end {
				t.Errorf("moved to %d, want the end %d", p.pos, l.end)
			}
		})
	}
}
