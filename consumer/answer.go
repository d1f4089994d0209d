package consumer

import (
	"cmp"
	"slices"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/internal/kafkafetch"
)

// Reading a fetch answer: the records of each partition copied out of the answer's buffer in
// offset order, transactions read as the Java client reads them, control batches and aborted
// records left out. The fetch loop (fetcher.go) calls records for each partition of an answer.

// records copies the records of one partition's answer out of its buffer, in offset order, cut
// into decode batches, taking their bytes from the budget, and moves p past them: past the
// last offset of every whole batch, as the Java client does, so a batch whose last records the
// log cleaner removed is crossed at once; a trailing gap item tells the pipeline of offsets
// without records after the last record. With read_committed it leaves out the records of
// aborted transactions as the Java client does: a batch of a transactional producer is aborted
// when the broker lists an aborted transaction of that producer starting at or before it and
// the producer's abort marker has not come yet. Control batches (the markers) are never
// delivered. A corrupt batch stops the partition at it, after the records before it: it is
// fetched again, with backoff, and never skipped.
func (f *fetcher) records(p *partFetch, rp *kafkafetch.AnswerPartition) ([]*decodeBatch, error) {
	var items batchBuilder
	before := p.pos
	delivered := int64(-1)
	got := 0 // the bytes of the records taken, for profile_ingest_fetched_bytes_total
	committed := f.w.cfg.IsolationLevel == kafka.ReadCommitted
	var aborted []kafkafetch.Aborted
	if committed {
		aborted = slices.SortedFunc(slices.Values(rp.Aborted), func(a, b kafkafetch.Aborted) int {
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
	batches := kafkafetch.NewBatches(rp.Records)
	var err error
	for {
		b, ok := batches.Next()
		if !ok {
			err = batches.Err()
			break
		}
		if b.Control() {
			if committed && b.ProducerID >= 0 {
				upTo(b.BaseOffset)
				if isAbortMarker(&b) {
					delete(abortedBy, b.ProducerID)
				}
			}
			p.pos = max(p.pos, b.LastOffset+1)
			continue
		}
		if committed && b.ProducerID >= 0 && b.Transactional() {
			upTo(b.BaseOffset)
			if abortedBy[b.ProducerID] {
				p.pos = max(p.pos, b.LastOffset+1)
				continue
			}
		}
		if b.LastOffset < p.pos {
			continue // read before
		}
		recs, rerr := b.Records()
		if rerr != nil {
			err = rerr
			break
		}
		for {
			rec, ok := recs.Next()
			if !ok {
				break
			}
			if rec.Offset < p.pos {
				continue
			}
			m := message(p.tp, &rec)
			c := chargeOf(&m)
			f.budget.take(c)
			got += c - recordOverhead
			items.add(fetched{tp: p.tp, msg: m, charge: c})
			p.pos, delivered = rec.Offset+1, rec.Offset
		}
		rerr = recs.Err()
		recs.Close()
		if rerr != nil {
			err = rerr
			break
		}
		p.pos = max(p.pos, b.LastOffset+1)
	}
	f.w.m.fetchedBytes.Add(float64(got))
	if p.pos > before && p.pos != delivered+1 {
		items.add(fetched{tp: p.tp, gap: true, upTo: p.pos})
	}
	return items.finish(), err
}

// corrupt says that p's records cannot be read at its position, and fetches them again later:
// a record is never skipped.
func (f *fetcher) corrupt(p *partFetch, err error) {
	f.w.m.fetchErrors.WithLabelValues("corrupt").Inc()
	ev := f.w.log.Debug()
	if p.backoff == 0 {
		ev = f.w.log.Error()
	}
	f.backOff(p)
	ev.Err(err).Str("topic", p.tp.Topic).Int("partition", p.tp.Partition).Int64("offset", p.pos).
		Msg("a record batch cannot be read; fetching it again with backoff, never past it")
}

// message copies a record out of the answer's buffer, its key and value into one allocation
// (a null key or value stays nil).
func message(tp TopicPartition, rec *kafkafetch.Record) kafka.Message {
	m := kafka.Message{Topic: tp.Topic, Partition: tp.Partition, Offset: rec.Offset, Time: rec.Time}
	kn, vn := len(rec.Key), len(rec.Value)
	buf := make([]byte, kn+vn)
	if rec.Key != nil {
		m.Key = buf[:kn:kn]
		copy(m.Key, rec.Key)
	}
	if rec.Value != nil {
		m.Value = buf[kn:]
		copy(m.Value, rec.Value)
	}
	if len(rec.Headers) > 0 {
		m.Headers = make([]kafka.Header, len(rec.Headers))
		for i, h := range rec.Headers {
			m.Headers[i] = kafka.Header{Key: h.Key, Value: slices.Clone(h.Value)}
		}
	}
	return m
}

// isAbortMarker reports whether a control batch is a transaction's abort marker (control type 0).
func isAbortMarker(b *kafkafetch.Batch) bool {
	recs, err := b.Records()
	if err != nil {
		return false
	}
	defer recs.Close()
	rec, ok := recs.Next()
	return ok && len(rec.Key) == 4 && rec.Key[2] == 0 && rec.Key[3] == 0
}
