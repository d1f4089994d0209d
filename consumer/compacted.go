package consumer

import (
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/fetch"
)

// Compacted batch tails. The log cleaner removes superseded records from inside a record batch
// but keeps the batch's offset range (its last offset is kept for the producer's sequence
// numbers), and a fetch reads one log segment at a time. So when a batch whose last records
// were removed ends a segment, a fetch at the offset after its last surviving record answers
// that batch again and nothing else, for ever: the Java client moves on to the batch's last
// offset + 1, which kafka-go's protocol layer reads but does not expose (its RecordBatch has no
// last offset). The fetch loop finds that offset instead by asking the broker: a fetch at q
// answers first the batch holding q or the first one after it, so "the answer starts after the
// stalled batch, or is empty" is false up to the batch's last offset and true after it. A
// doubling then halving search over a few fetches finds the first offset after the batch; the
// offsets skipped carry no record (every batch kafka-go decodes is whole, and none of the
// stalled answer's had a record at or after the position).

// tailProbe is the search for the offset after a stalled answer's last batch.
type tailProbe struct {
	base int64 // the base offset of the stalled answer's last batch
	lo   int64 // the greatest offset known to lie inside that batch or before it
	hi   int64 // the least offset known to lie after it; -1 while unknown
	step int64 // the doubling step while hi is unknown
	end  int64 // the partition's end (high watermark, or last stable offset): nothing at or after it
}

// at is the offset the next fetch of a probing partition asks for.
func (t *tailProbe) at() int64 {
	if t.hi < 0 {
		return min(t.lo+t.step, t.end)
	}
	return t.lo + (t.hi-t.lo)/2
}

// baseOf returns the base offset of a record batch, and false for a legacy message set (v0/v1:
// no batch headers, and the cleaner leaves none behind).
func baseOf(br protocol.RecordReader) (int64, bool) {
	switch b := br.(type) {
	case *protocol.RecordBatch:
		return b.BaseOffset, true
	case *protocol.ControlBatch:
		return b.BaseOffset, true
	}
	return -1, false
}

// firstBase returns the base offset of an answer's first record batch (-1 for a legacy message
// set), and false when the answer holds none.
func firstBase(batches []protocol.RecordReader) (int64, bool) {
	if len(batches) == 0 {
		return 0, false
	}
	base, _ := baseOf(batches[0])
	return base, true
}

// lastBase returns the base offset of an answer's last record batch, -1 when it holds none.
func lastBase(batches []protocol.RecordReader) int64 {
	base := int64(-1)
	for _, br := range batches {
		if b, ok := baseOf(br); ok {
			base = b
		}
	}
	return base
}

// batchesOf returns the record batches of a partition's answer.
func batchesOf(rp *fetch.ResponsePartition) []protocol.RecordReader {
	switch rs := rp.RecordSet.Records.(type) {
	case nil:
		return nil
	case *protocol.RecordStream:
		return rs.Records
	default:
		return []protocol.RecordReader{rs}
	}
}

// stalled starts the search for the end of the last batch of an answer that held batches but
// no record at or after p's position.
func (f *fetcher) stalled(p *partFetch, rp *fetch.ResponsePartition, batches []protocol.RecordReader) {
	base := lastBase(batches)
	if base < 0 {
		f.backOff(p) // legacy message sets only: nothing to search for
		return
	}
	end := rp.HighWatermark
	if f.w.cfg.IsolationLevel == kafka.ReadCommitted && rp.LastStableOffset >= 0 {
		end = rp.LastStableOffset
	}
	if end <= p.pos {
		f.backOff(p) // nothing is readable after the position yet
		return
	}
	p.probe = &tailProbe{base: base, lo: p.pos, hi: -1, step: 1, end: end}
	f.w.log.Debug().Str("topic", p.tp.Topic).Int("partition", p.tp.Partition).Int64("offset", p.pos).
		Int64("batch_base_offset", base).Msg("a compacted record batch ends here; finding where it ends")
}

// probed takes the answer to a probing fetch: it narrows the search and, once the offset after
// the batch is found, moves p there and tells the pipeline that the offsets skipped carry no
// record.
func (f *fetcher) probed(p *partFetch, rp *fetch.ResponsePartition) []*decodeBatch {
	t, q := p.probe, p.probe.at()
	batches := batchesOf(rp)
	base, found := firstBase(batches)
	for _, b := range batches {
		drain(b)
	}
	if !found || base > t.base {
		t.hi = q
	} else {
		t.lo, t.step = q, 2*t.step
	}
	if t.hi < 0 && t.lo >= t.end {
		// The batch reaches the end it was stalled at: the partition's log changed under the
		// search (a new leader truncated it). Start again from a plain fetch.
		p.probe = nil
		f.backOff(p)
		return nil
	}
	if t.hi < 0 || t.hi-t.lo > 1 {
		return nil
	}
	f.w.log.Debug().Str("topic", p.tp.Topic).Int("partition", p.tp.Partition).Int64("from", p.pos).
		Int64("to", t.hi).Msg("moved past the offsets a compacted record batch holds no record for")
	p.pos, p.probe = t.hi, nil
	return []*decodeBatch{{items: []fetched{{tp: p.tp, gap: true, upTo: p.pos}}, done: closedDone}}
}
