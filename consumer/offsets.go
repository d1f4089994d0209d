package consumer

import (
	"fmt"
	"sort"
)

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// Offsets tracks, per partition, which fetched records are resolved (accepted by the API or
// acknowledged by the dead-letter topic) and so which offset may be committed: the highest
// contiguous resolved offset + 1. Records must be added in the order a partition delivers them;
// they may resolve in any order. An Offsets is owned by one goroutine.
type Offsets struct {
	parts map[TopicPartition]*partitionOffsets
}

type partitionOffsets struct {
	next      int64 // the offset to commit: every record below it is resolved; -1 until known
	committed int64 // the offset last committed; -1 when none was committed by this tracker
	pending   []pendingOffset
	head      int // pending[head:] are the unresolved-or-blocked records, oldest first
}

type pendingOffset struct {
	offset   int64
	resolved bool
}

// NewOffsets returns an empty tracker.
func NewOffsets() *Offsets {
	return &Offsets{parts: make(map[TopicPartition]*partitionOffsets)}
}

// Assign starts tracking tp from start, the offset its next record is expected at (the group's
// committed offset). A negative start means unknown: the first added record sets it.
func (o *Offsets) Assign(tp TopicPartition, start int64) {
	o.parts[tp] = &partitionOffsets{next: start, committed: start}
}

// Add registers a fetched record. It returns an error when the record is not after the last one
// added for its partition, or the partition is not assigned.
func (o *Offsets) Add(tp TopicPartition, offset int64) error {
	p, ok := o.parts[tp]
	if !ok {
		return fmt.Errorf("offsets: %s is not assigned", tp)
	}
	if n := len(p.pending); n > p.head && p.pending[n-1].offset >= offset {
		return fmt.Errorf("offsets: %s: record %d added after %d", tp, offset, p.pending[n-1].offset)
	}
	if p.head == len(p.pending) {
		// Nothing pending: every record before this one is resolved, whatever gap lies between
		// (compacted records, transaction markers). For a group without commits this makes the
		// first record's offset committable at once: it pins where a group started with
		// "latest" or a time, so a restart cannot skip past records fetched but not resolved.
		if p.next >= 0 && offset < p.next {
			return fmt.Errorf("offsets: %s: record %d is before the committed position %d", tp, offset, p.next)
		}
		p.next = offset
	}
	p.pending = append(p.pending, pendingOffset{offset: offset})
	return nil
}

// Skip says that no offset of tp below upTo that was not added carries a record (transaction
// markers, records of aborted transactions, compacted or deleted offsets, where a partition
// without a commit starts): once the records added before upTo resolve, the committable offset
// is upTo. A record added later must be at or after upTo. An upTo not past the last record
// added changes nothing.
func (o *Offsets) Skip(tp TopicPartition, upTo int64) error {
	p, ok := o.parts[tp]
	if !ok {
		return fmt.Errorf("offsets: %s is not assigned", tp)
	}
	if n := len(p.pending); n > p.head {
		// Behind unresolved records: a resolved stand-in for the last skipped offset.
		if p.pending[n-1].offset < upTo-1 {
			p.pending = append(p.pending, pendingOffset{offset: upTo - 1, resolved: true})
		}
		return nil
	}
	p.next = max(p.next, upTo)
	return nil
}

// Resolve marks a record resolved. Resolving an unknown or already resolved record is an error.
func (o *Offsets) Resolve(tp TopicPartition, offset int64) error {
	p, ok := o.parts[tp]
	if !ok {
		return fmt.Errorf("offsets: %s is not assigned", tp)
	}
	q := p.pending[p.head:]
	i := sort.Search(len(q), func(i int) bool { return q[i].offset >= offset })
	if i == len(q) || q[i].offset != offset || q[i].resolved {
		return fmt.Errorf("offsets: %s: record %d is not pending", tp, offset)
	}
	q[i].resolved = true
	for p.head < len(p.pending) && p.pending[p.head].resolved {
		p.next = p.pending[p.head].offset + 1
		p.head++
	}
	if p.head == len(p.pending) {
		p.pending, p.head = p.pending[:0], 0
	} else if p.head > 1024 && p.head*2 > len(p.pending) {
		p.pending = append(p.pending[:0], p.pending[p.head:]...)
		p.head = 0
	}
	return nil
}

// Pending returns how many records of tp are added and not yet committable.
func (o *Offsets) Pending(tp TopicPartition) int {
	if p, ok := o.parts[tp]; ok {
		return len(p.pending) - p.head
	}
	return 0
}

// Next returns the offset tp would commit now, or -1 when none is known.
func (o *Offsets) Next(tp TopicPartition) int64 {
	if p, ok := o.parts[tp]; ok {
		return p.next
	}
	return -1
}

// Committable returns, by topic and partition, the offsets that moved past the last commit.
// It returns nil when there is nothing new to commit.
func (o *Offsets) Committable() map[string]map[int]int64 {
	var out map[string]map[int]int64
	for tp, p := range o.parts {
		if p.next < 0 || p.next == p.committed {
			continue
		}
		if out == nil {
			out = make(map[string]map[int]int64)
		}
		if out[tp.Topic] == nil {
			out[tp.Topic] = make(map[int]int64)
		}
		out[tp.Topic][tp.Partition] = p.next
	}
	return out
}

// Committed records that offsets were committed.
func (o *Offsets) Committed(offsets map[string]map[int]int64) {
	for topic, parts := range offsets {
		for partition, off := range parts {
			if p, ok := o.parts[TopicPartition{topic, partition}]; ok {
				p.committed = off
			}
		}
	}
}
