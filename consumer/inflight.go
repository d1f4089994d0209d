package consumer

import "github.com/segmentio/kafka-go"

// inflight is a fetched record that is not resolved yet.
type inflight struct {
	tp  TopicPartition
	msg kafka.Message
	// insertID is the $insert_id the record is sent with, kept for its dead letter so that a
	// replay sends the same id.
	insertID string
	charge   int // the fetch budget's bytes it holds
}

// inFlight holds the pipeline's unresolved records, each under a ref that names it from the
// batcher to the dispatcher and back. It replaces a map keyed by a counter: a record costs no
// hashing and no allocation, only a slot that the next record reuses once it resolves. A ref
// is the slot's index and the slot's use count, so a ref that was already resolved never finds
// the record that reuses its slot. Slots are made as records arrive and never given back during
// a generation: there are never more than max_in_flight_records of them, the most unresolved
// at once.
type inFlight struct {
	slots []slot
	free  []uint32 // indexes of unused slots, the last freed last
	live  int
}

type slot struct {
	rec  inflight
	uses uint32 // how often the slot was filled; the high half of its ref
	used bool
}

// add keeps rec and returns its ref.
func (t *inFlight) add(rec inflight) uint64 {
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		i = uint32(len(t.slots))
		t.slots = append(t.slots, slot{})
	}
	s := &t.slots[i]
	s.rec, s.used = rec, true
	s.uses++
	t.live++
	return uint64(s.uses)<<32 | uint64(i)
}

// get returns the record ref names, or nil when it was resolved.
func (t *inFlight) get(ref uint64) *inflight {
	i, uses := uint32(ref), uint32(ref>>32)
	if int(i) >= len(t.slots) || !t.slots[i].used || t.slots[i].uses != uses {
		return nil
	}
	return &t.slots[i].rec
}

// remove forgets the record ref names, which get returned.
func (t *inFlight) remove(ref uint64) {
	i := uint32(ref)
	t.slots[i] = slot{uses: t.slots[i].uses} // drops the message's bytes for the collector
	t.free = append(t.free, i)
	t.live--
}

// len is the number of unresolved records.
func (t *inFlight) len() int { return t.live }
