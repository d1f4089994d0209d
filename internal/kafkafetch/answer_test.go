package kafkafetch

import (
	"bytes"
	"errors"
	"testing"
)

// answerBytes is a Fetch v11 answer body with one topic, "t", and one partition, 3, holding
// records, with an aborted transaction listed.
func answerBytes(records []byte) []byte {
	var b []byte
	b = be32(b, 0)  // throttle
	b = be16(b, 0)  // error
	b = be32(b, 0)  // session
	b = be32(b, 1)  // topics
	b = str(b, "t") //
	b = be32(b, 1)  // partitions
	b = be32(b, 3)
	b = be16(b, 0)
	b = be64(b, 42) // high watermark
	b = be64(b, 40) // last stable offset
	b = be64(b, 0)  // log start offset
	b = be32(b, 1)  // aborted transactions
	b = be64(b, 7)
	b = be64(b, 30)
	b = be32(b, -1) // preferred read replica
	b = be32(b, int32(len(records)))
	return append(b, records...)
}

// An answer's fields reach the fetch loop as the broker sent them, the records untouched.
func TestAnswerParse(t *testing.T) {
	recs := batch(t, nil, Batch{BaseOffset: 0, LastOffset: 2, ProducerID: -1, BaseTime: t0.UnixMilli()}, records(0, 3)...)
	a := &Answer{}
	if err := a.parse(answerBytes(recs)); err != nil {
		t.Fatal(err)
	}
	if len(a.Topics) != 1 || a.Topics[0].Topic != "t" || len(a.Topics[0].Partitions) != 1 {
		t.Fatalf("topics %+v, want t with one partition", a.Topics)
	}
	p := a.Topics[0].Partitions[0]
	if p.Partition != 3 || p.HighWatermark != 42 || p.LastStableOffset != 40 || len(p.Aborted) != 1 ||
		p.Aborted[0] != (Aborted{ProducerID: 7, FirstOffset: 30}) || !bytes.Equal(p.Records, recs) {
		t.Fatalf("partition %+v", p)
	}
}

// An answer cut short anywhere is an error, never a panic nor a partition with made-up fields.
func TestAnswerCutShortIsAnError(t *testing.T) {
	full := answerBytes(batch(t, nil, Batch{BaseOffset: 0, LastOffset: 0, ProducerID: -1}, records(0, 1)...))
	for n := range len(full) {
		if err := (&Answer{}).parse(full[:n]); !errors.Is(err, errShort) {
			t.Fatalf("answer cut at %d of %d bytes: error %v, want errShort", n, len(full), err)
		}
	}
}

// The request is Fetch v11 as the protocol frames it: what a broker reads back is what was
// asked (checked field by field against the layout).
func TestRequestEncode(t *testing.T) {
	r := &Request{MaxWait: 500e6, MinBytes: 1, MaxBytes: 1 << 20, IsolationLevel: 1, ClientID: "pi",
		Topics: []Topic{{Topic: "t", Partitions: []Partition{{Partition: 3, Offset: 99, MaxBytes: 4096}}}}}
	b := r.encode(5)
	rd := &reader{b: b}
	size := rd.i32()
	key, ver, id, client := rd.i16(), rd.i16(), rd.i32(), rd.str()
	replica, wait, minB, maxB, iso := rd.i32(), rd.i32(), rd.i32(), rd.i32(), rd.take(1)[0]
	sess, epoch, topics, topic, parts := rd.i32(), rd.i32(), rd.i32(), rd.str(), rd.i32()
	part, leaderEpoch, off, logStart, partMax := rd.i32(), rd.i32(), rd.i64(), rd.i64(), rd.i32()
	forgotten, rack := rd.i32(), rd.str()
	if rd.err != nil || len(rd.b) != 0 || int(size) != len(b)-4 {
		t.Fatalf("framing: size %d of %d bytes, %d left, %v", size, len(b), len(rd.b), rd.err)
	}
	got := []int64{int64(key), int64(ver), int64(id), int64(replica), int64(wait), int64(minB), int64(maxB), int64(iso),
		int64(sess), int64(epoch), int64(topics), int64(parts), int64(part), int64(leaderEpoch), off, logStart, int64(partMax), int64(forgotten)}
	want := []int64{1, 11, 5, -1, 500, 1, 1 << 20, 1, 0, -1, 1, 1, 3, -1, 99, -1, 4096, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("field %d: %d, want %d (all: %v)", i, got[i], want[i], got)
		}
	}
	if client != "pi" || topic != "t" || rack != "" {
		t.Fatalf("client %q, topic %q, rack %q", client, topic, rack)
	}
}

// An answer of partitions with nothing new (the smallest a partition can be: no aborted
// transactions, null records) is read whole: a fetch at the end of every partition is no error.
func TestAnswerOfEmptyPartitions(t *testing.T) {
	var b []byte
	b = be32(b, 0)
	b = be16(b, 0)
	b = be32(b, 0)
	b = be32(b, 1)
	b = str(b, "t")
	b = be32(b, 8)
	for i := range int32(8) {
		b = be32(b, i)
		b = be16(b, 0)
		b = be64(b, 100)
		b = be64(b, 100)
		b = be64(b, 0)
		b = be32(b, -1) // aborted transactions: null
		b = be32(b, -1)
		b = be32(b, -1) // records: null
	}
	a := &Answer{}
	if err := a.parse(b); err != nil {
		t.Fatalf("8 empty partitions: %v", err)
	}
	if n := len(a.Topics[0].Partitions); n != 8 {
		t.Fatalf("%d partitions read, want 8", n)
	}
}
