package consumer

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

// A resolved record's ref must never find the record that reuses its slot: a late result for
// it (a chunk's, a dead letter's acknowledgement) would resolve a record still in flight, and
// its offset would be committed before it was delivered.
func TestInFlightStaleRefFindsNothing(t *testing.T) {
	var t1 inFlight
	a := t1.add(inflight{msg: kafka.Message{Offset: 1}})
	b := t1.add(inflight{msg: kafka.Message{Offset: 2}})
	t1.remove(a)
	c := t1.add(inflight{msg: kafka.Message{Offset: 3}})
	if c == a {
		t.Fatalf("the record that reused a slot got the resolved record's ref %#x", a)
	}
	if got := t1.get(a); got != nil {
		t.Fatalf("resolved ref %#x found the record at offset %d", a, got.msg.Offset)
	}
	for ref, want := range map[uint64]int64{b: 2, c: 3} {
		if got := t1.get(ref); got == nil || got.msg.Offset != want {
			t.Fatalf("ref %#x: got %+v, want the record at offset %d", ref, got, want)
		}
	}
	if t1.len() != 2 {
		t.Fatalf("%d records in flight, want 2", t1.len())
	}
	if len(t1.slots) != 2 {
		t.Fatalf("%d slots for at most 2 records at once: a resolved record's slot was not reused", len(t1.slots))
	}
}
