package kafkafetch

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/compress"
)

var t0 = time.UnixMilli(1700000000123)

// records returns n records from offset base, one millisecond apart, every third with a null
// key and every second with a header.
func records(base int64, n int) []Record {
	var rs []Record
	for i := range int64(n) {
		r := Record{Offset: base + i, Time: t0.Add(time.Duration(i) * time.Millisecond),
			Key: []byte(fmt.Sprint("user-", i)), Value: []byte(fmt.Sprintf(`{"distinct_id":"user-%d","n":%d}`, i, i))}
		if i%3 == 0 {
			r.Key = nil
		}
		if i%2 == 0 {
			r.Headers = []Header{{Key: "h", Value: []byte(fmt.Sprint(i))}}
		}
		rs = append(rs, r)
	}
	return rs
}

func batch(t *testing.T, dst []byte, b Batch, rs ...Record) []byte {
	t.Helper()
	out, err := AppendBatch(dst, b, rs...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// read walks every batch of data and returns their records, and the error that ended the walk.
func read(data []byte) (bs []Batch, got []Record, err error) {
	batches := NewBatches(data)
	for {
		b, ok := batches.Next()
		if !ok {
			return bs, got, batches.Err()
		}
		bs = append(bs, b)
		rs, err := b.Records()
		if err != nil {
			return bs, got, err
		}
		for {
			r, ok := rs.Next()
			if !ok {
				break
			}
			r.Key, r.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
			got = append(got, r)
		}
		err = rs.Err()
		rs.Close()
		if err != nil {
			return bs, got, err
		}
	}
}

func sameRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records read, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Offset != w.Offset || !g.Time.Equal(w.Time) || !bytes.Equal(g.Key, w.Key) || (g.Key == nil) != (w.Key == nil) ||
			!bytes.Equal(g.Value, w.Value) || len(g.Headers) != len(w.Headers) {
			t.Fatalf("record %d: got %+v, want %+v", i, g, w)
		}
		for j := range w.Headers {
			if g.Headers[j].Key != w.Headers[j].Key || !bytes.Equal(g.Headers[j].Value, w.Headers[j].Value) {
				t.Fatalf("record %d header %d: got %+v, want %+v", i, j, g.Headers[j], w.Headers[j])
			}
		}
	}
}

// Whatever codec the producer chose, every record is read back as it was written: offset,
// time, key (null stays null), value and headers, batch after batch.
func TestBatchesReadEveryCodec(t *testing.T) {
	for _, c := range []compress.Compression{compress.None, compress.Gzip, compress.Snappy, compress.Lz4, compress.Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			var data []byte
			var want []Record
			for i := range int64(3) {
				rs := records(100+10*i, 10)
				data = batch(t, data, Batch{BaseOffset: 100 + 10*i, LastOffset: 109 + 10*i, Attributes: int16(c), ProducerID: -1,
					BaseTime: t0.UnixMilli(), MaxTime: t0.UnixMilli() + 9}, rs...)
				want = append(want, rs...)
			}
			bs, got, err := read(data)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, got, want)
			if len(bs) != 3 || bs[2].LastOffset != 129 {
				t.Fatalf("%d batches, the last ending at %d; want 3, ending at 129", len(bs), bs[len(bs)-1].LastOffset)
			}
		})
	}
}

// A batch whose records the log cleaner removed keeps its last offset, and the reader says it:
// the consumer moves past it without asking the broker where it ends.
func TestBatchesKeepTheLastOffsetOfACompactedBatch(t *testing.T) {
	kept := []Record{{Offset: 10, Time: t0, Value: []byte("a")}, {Offset: 12, Time: t0, Value: []byte("b")}}
	data := batch(t, nil, Batch{BaseOffset: 10, LastOffset: 19, ProducerID: -1, BaseTime: t0.UnixMilli()}, kept...)
	bs, got, err := read(data)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, got, kept)
	if bs[0].LastOffset != 19 {
		t.Fatalf("last offset %d, want 19", bs[0].LastOffset)
	}
}

// A topic with message.timestamp.type=LogAppendTime dates every record of a batch with the
// time the broker appended it, the batch's max timestamp, as the Java client reads it.
func TestBatchesDateLogAppendTimeRecordsWithTheBrokersTime(t *testing.T) {
	appended := t0.Add(time.Hour)
	data := batch(t, nil, Batch{BaseOffset: 0, LastOffset: 2, Attributes: 0x08, ProducerID: -1, BaseTime: t0.UnixMilli(),
		MaxTime: appended.UnixMilli()}, records(0, 3)...)
	_, got, err := read(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if !r.Time.Equal(appended) {
			t.Fatalf("record %d dated %s, want the append time %s", r.Offset, r.Time, appended)
		}
	}
}

// The broker cuts the last batch of an answer to the bytes asked for: the whole batches before
// it are read, the cut one is not, and that is no error (it is fetched again whole).
func TestBatchesStopAtACutBatch(t *testing.T) {
	data := batch(t, nil, Batch{BaseOffset: 0, LastOffset: 4, ProducerID: -1, BaseTime: t0.UnixMilli()}, records(0, 5)...)
	whole := len(data)
	data = batch(t, data, Batch{BaseOffset: 5, LastOffset: 9, ProducerID: -1, BaseTime: t0.UnixMilli()}, records(5, 5)...)
	for cut := whole; cut < len(data); cut += 7 {
		bs, got, err := read(data[:cut])
		if err != nil || len(bs) != 1 || len(got) != 5 {
			t.Fatalf("cut at %d of %d bytes: %d batches, %d records, error %v; want the first batch's 5 records and no error",
				cut, len(data), len(bs), len(got), err)
		}
	}
}

// A batch whose bytes changed on the way fails its CRC-32C check and is not read: the records
// are refused, not delivered wrong.
func TestBatchesRefuseACorruptBatch(t *testing.T) {
	data := batch(t, nil, Batch{BaseOffset: 0, LastOffset: 4, ProducerID: -1, BaseTime: t0.UnixMilli()}, records(0, 5)...)
	for _, at := range []int{21, 30, 61, len(data) - 1} {
		bad := slices.Clone(data)
		bad[at] ^= 0x40
		if _, got, err := read(bad); !errors.Is(err, ErrCorrupt) || len(got) != 0 {
			t.Errorf("byte %d changed: %d records read, error %v; want none and ErrCorrupt", at, len(got), err)
		}
	}
}

// Bytes from a broker are never trusted: whatever they hold, reading them ends (with records,
// an error or nothing) and never panics.
func FuzzBatches(f *testing.F) {
	var seed []byte
	seed, _ = AppendBatch(seed, Batch{BaseOffset: 0, LastOffset: 2, ProducerID: -1, BaseTime: t0.UnixMilli()}, records(0, 3)...)
	seed, _ = AppendBatch(seed, Batch{BaseOffset: 3, LastOffset: 5, Attributes: int16(compress.Snappy), ProducerID: 7}, records(3, 3)...)
	f.Add(seed)
	f.Add(seed[:40])
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _ = read(data)
		// The same bytes as a partition's records inside an answer.
		a := &Answer{}
		_ = a.parse(answerBytes(data))
	})
}
