package consumer

import (
	"cmp"
	"io"
	"slices"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/fetch"
)

// Reading a fetch answer: the records of each partition copied out of kafka-go's buffers in
// offset order, transactions read as the Java client reads them, control batches and aborted
// records left out. The fetch loop (fetcher.go) calls records for each partition of an answer.

// records copies the records of one partition's answer out of its buffers, in offset order, cut
// into decode batches, taking their bytes from the budget, and moves p past them; a trailing
// gap item tells the pipeline of offsets without records after the last record. With read_committed it leaves out the records of aborted transactions as
// the Java client does: a batch of a transactional producer is aborted when the broker lists an
// aborted transaction of that producer starting at or before it and the producer's abort
// marker has not come yet. Control batches (the markers) are never delivered.
func (f *fetcher) records(p *partFetch, rp *fetch.ResponsePartition) []*decodeBatch {
	if p.probe != nil {
		return f.probed(p, rp)
	}
	var items batchBuilder
	before := p.pos
	delivered := int64(-1)
	got := 0 // the bytes of the records taken, for profile_ingest_fetched_bytes_total
	batches := batchesOf(rp)
	committed := f.w.cfg.IsolationLevel == kafka.ReadCommitted
	var aborted []fetch.ResponseTransaction
	if committed {
		aborted = slices.SortedFunc(slices.Values(rp.AbortedTransactions), func(a, b fetch.ResponseTransaction) int {
			return cmp.Compare(a.FirstOffset, b.FirstOffset)
		})
	}
	abortedBy := map[int64]bool{}
	upTo := func(off int64) {
		for len(aborted) > 0 && aborted[0].FirstOffset <= off {
			abortedBy[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
	}
	for _, br := range batches {
		switch b := br.(type) {
		case *protocol.ControlBatch:
			if committed && b.ProducerID >= 0 {
				upTo(b.BaseOffset)
				if isAbortMarker(b) {
					delete(abortedBy, b.ProducerID)
				}
			}
			drain(b)
			p.pos = max(p.pos, b.BaseOffset+1) // a control batch holds one record
			continue
		case *protocol.RecordBatch:
			if committed && b.ProducerID >= 0 && b.Attributes.Transactional() {
				upTo(b.BaseOffset)
				if abortedBy[b.ProducerID] {
					p.pos = max(p.pos, drain(b)+1)
					continue
				}
			}
		}
		for {
			rec, err := br.ReadRecord()
			if err != nil {
				break // io.EOF, or a batch cut short: fetched again from p.pos
			}
			if rec.Offset < p.pos {
				closeRecord(rec)
				continue
			}
			m := message(p.tp, rec)
			c := chargeOf(&m)
			f.budget.take(c)
			got += c - recordOverhead
			items.add(fetched{tp: p.tp, msg: m, charge: c})
			p.pos, delivered = rec.Offset+1, rec.Offset
		}
	}
	f.w.m.fetchedBytes.Add(float64(got))
	if p.pos > before && p.pos != delivered+1 {
		items.add(fetched{tp: p.tp, gap: true, upTo: p.pos})
	}
	if p.pos == before && len(batches) > 0 {
		// Batches, but nothing at or after the position: the end of a batch was compacted away.
		f.stalled(p, rp, batches)
	}
	return items.finish()
}

// message copies a record out of the fetch answer's buffers, its key and value into one
// allocation (a null key or value stays nil).
func message(tp TopicPartition, rec *protocol.Record) kafka.Message {
	m := kafka.Message{Topic: tp.Topic, Partition: tp.Partition, Offset: rec.Offset, Time: rec.Time}
	kn, vn := 0, 0
	if rec.Key != nil {
		kn = rec.Key.Len()
	}
	if rec.Value != nil {
		vn = rec.Value.Len()
	}
	buf := make([]byte, kn+vn)
	if rec.Key != nil {
		m.Key = buf[:kn:kn]
		_, _ = io.ReadFull(rec.Key, m.Key)
	}
	if rec.Value != nil {
		m.Value = buf[kn:]
		_, _ = io.ReadFull(rec.Value, m.Value)
	}
	closeRecord(rec)
	if len(rec.Headers) > 0 {
		m.Headers = make([]kafka.Header, len(rec.Headers))
		for i, h := range rec.Headers {
			m.Headers[i] = kafka.Header{Key: h.Key, Value: slices.Clone(h.Value)}
		}
	}
	return m
}

func closeRecord(rec *protocol.Record) {
	if rec.Key != nil {
		rec.Key.Close()
	}
	if rec.Value != nil {
		rec.Value.Close()
	}
}

// drain reads r to its end, giving its buffers back, and returns the last offset read (-1 if none).
func drain(r protocol.RecordReader) int64 {
	last := int64(-1)
	if r == nil {
		return last
	}
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			return last
		}
		last = rec.Offset
		closeRecord(rec)
	}
}

// isAbortMarker reports whether a control batch is a transaction's abort marker (control type 0).
func isAbortMarker(b *protocol.ControlBatch) bool {
	rec, err := b.ReadRecord()
	if err != nil {
		return false
	}
	defer closeRecord(rec)
	k, err := protocol.ReadAll(rec.Key)
	return err == nil && len(k) == 4 && k[2] == 0 && k[3] == 0
}
