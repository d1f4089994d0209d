package consumer

import (
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/internal/kafkafetch"
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

func (l compactedLog) answer(t *testing.T, q int64) *kafkafetch.AnswerPartition {
	rp := &kafkafetch.AnswerPartition{HighWatermark: l.end, LastStableOffset: l.end}
	at := time.Unix(1700000000, 0)
	for _, b := range l.batches {
		if b.last < q {
			continue
		}
		var recs []kafkafetch.Record
		for _, o := range b.kept {
			recs = append(recs, kafkafetch.Record{Offset: o, Value: []byte(fmt.Sprint(o)), Time: at})
		}
		var err error
		rp.Records, err = kafkafetch.AppendBatch(rp.Records, kafkafetch.Batch{BaseOffset: b.base, LastOffset: b.last, ProducerID: -1,
			BaseTime: at.UnixMilli()}, recs...)
		if err != nil {
			t.Fatal(err)
		}
		if b.segmentEnd {
			break
		}
	}
	return rp
}

// TestCompactedBatchTailsAreCrossed: whatever a compacted log looks like, fetching from the
// start delivers every record left, in order, and moves to the end with one fetch per segment:
// a batch whose last records were removed is crossed at its last offset, as the Java client
// does, never fetched again and again.
func TestCompactedBatchTailsAreCrossed(t *testing.T) {
	logs := map[string]struct {
		log      compactedLog
		segments int
	}{
		"a tail at a segment end": {segments: 2, log: compactedLog{end: 10, batches: []compactedBatch{
			{base: 0, last: 4, kept: []int64{0, 1}, segmentEnd: true}, {base: 5, last: 9, kept: []int64{5, 9}, segmentEnd: true}}}},
		"an emptied batch kept for its producer, then a long tail": {segments: 3, log: compactedLog{end: 5000, batches: []compactedBatch{
			{base: 0, last: 2, kept: []int64{0}, segmentEnd: false}, {base: 3, last: 7, segmentEnd: true},
			{base: 8, last: 4000, kept: []int64{8}, segmentEnd: true}, {base: 4001, last: 4999, kept: []int64{4500}, segmentEnd: true}}}},
		"a tail at the log's end": {segments: 1, log: compactedLog{end: 300, batches: []compactedBatch{
			{base: 0, last: 299, kept: []int64{10, 20}, segmentEnd: true}}}},
	}
	for name, c := range logs {
		t.Run(name, func(t *testing.T) {
			f := testFetcher(t, kafka.ReadUncommitted)
			p := &partFetch{tp: TopicPartition{"t", 0}, pos: 0}
			var got, want []string
			var gaps []int64
			for _, b := range c.log.batches {
				for _, o := range b.kept {
					want = append(want, fmt.Sprint(o))
				}
			}
			fetches := 0
			for p.pos < c.log.end && fetches < 100 {
				fetches++
				bs, err := f.records(p, c.log.answer(t, p.pos))
				if err != nil {
					t.Fatal(err)
				}
				values, gs := itemsOf(bs)
				got, gaps = append(got, values...), append(gaps, gs...)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("delivered %v, want %v", got, want)
			}
			if p.pos != c.log.end || fetches != c.segments {
				t.Errorf("at offset %d after %d fetches; want the end %d after %d, one per segment", p.pos, fetches, c.log.end, c.segments)
			}
			last := c.log.batches[len(c.log.batches)-1]
			if len(last.kept) > 0 && last.kept[len(last.kept)-1] == c.log.end-1 {
				return // the last record is the log's last offset: no gap to tell
			}
			if len(gaps) == 0 || gaps[len(gaps)-1] != c.log.end {
				t.Errorf("gaps %v: the pipeline never heard that the offsets up to %d carry no record", gaps, c.log.end)
			}
		})
	}
}

// A corrupt batch stops its partition where it starts, after the records before it, and is
// reported: nothing after it is delivered, and the position does not move past it.
func TestCorruptBatchIsNeverSkipped(t *testing.T) {
	at := time.Unix(1700000000, 0)
	var recs []byte
	for i := range int64(3) {
		var err error
		recs, err = kafkafetch.AppendBatch(recs, kafkafetch.Batch{BaseOffset: i, LastOffset: i, ProducerID: -1, BaseTime: at.UnixMilli()},
			kafkafetch.Record{Offset: i, Time: at, Value: []byte(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
	}
	second := len(recs) / 3
	recs[second+65] ^= 1 // a byte of the second batch's record (its CRC covers it)
	f := testFetcher(t, kafka.ReadUncommitted)
	p := &partFetch{tp: TopicPartition{"t", 0}, pos: 0}
	bs, err := f.records(p, &kafkafetch.AnswerPartition{HighWatermark: 3, Records: recs})
	got, _ := itemsOf(bs)
	if err == nil || fmt.Sprint(got) != "[0]" || p.pos != 1 {
		t.Fatalf("delivered %v, position %d, error %v; want record 0 only, position 1 and an error", got, p.pos, err)
	}
}
