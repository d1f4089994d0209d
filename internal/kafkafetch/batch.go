package kafkafetch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"time"

	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/protocol"
)

// Batch is a record batch of an answer (magic 2), or the records of a legacy message set.
type Batch struct {
	BaseOffset int64
	LastOffset int64 // the offset after it is where the next batch starts, whatever the log cleaner removed
	Attributes int16
	ProducerID int64 // -1 when not an idempotent or transactional producer's
	BaseTime   int64 // milliseconds
	MaxTime    int64 // milliseconds
	Count      int32
	records    []byte   // as stored: compressed when Attributes say so
	legacy     []Record // a legacy message set's records, copied by kafka-go
}

// Transactional reports whether a transactional producer wrote the batch.
func (b *Batch) Transactional() bool { return b.Attributes&0x10 != 0 }

// Control reports whether the batch holds a transaction marker.
func (b *Batch) Control() bool { return b.Attributes&0x20 != 0 }

// logAppendTime reports whether the broker set the batch's time (MaxTime) for all its records.
func (b *Batch) logAppendTime() bool { return b.Attributes&0x08 != 0 }

// Record is a record of a batch. Key, Value and Headers point into the answer or into a
// decompressed batch: copy them before the next Records or Release.
type Record struct {
	Offset  int64
	Time    time.Time
	Key     []byte // nil when null
	Value   []byte // nil when null
	Headers []Header
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Batches walks the record batches of a partition's Records.
type Batches struct {
	rest []byte
	err  error
}

// NewBatches returns the batches of records, a partition's part of an Answer.
func NewBatches(records []byte) *Batches { return &Batches{rest: records} }

// ErrCorrupt is a batch whose bytes are not what its producer wrote (its CRC differs), or not
// a record batch at all.
var ErrCorrupt = errors.New("kafka: corrupt record batch")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchHeader is the bytes of a magic 2 batch before its records.
const batchHeader = 61

// Next returns the next whole batch, false at the end: at the end of the records, at a batch
// cut short (the broker cuts the last one to the size asked for), or at an error (Err).
func (bs *Batches) Next() (Batch, bool) {
	if bs.err != nil || len(bs.rest) < 17 {
		return Batch{}, false
	}
	b := bs.rest
	size := int64(int32(binary.BigEndian.Uint32(b[8:12]))) + 12
	if magic := b[16]; magic < 2 {
		return bs.legacy()
	}
	if size < batchHeader {
		bs.err = fmt.Errorf("%w: a batch of %d bytes", ErrCorrupt, size)
		return Batch{}, false
	}
	if size > int64(len(b)) {
		return Batch{}, false // cut short
	}
	b, bs.rest = b[:size], b[size:]
	if crc := binary.BigEndian.Uint32(b[17:21]); crc32.Checksum(b[21:], castagnoli) != crc {
		bs.err = fmt.Errorf("%w: the batch at offset %d fails its CRC-32C check", ErrCorrupt, int64(binary.BigEndian.Uint64(b)))
		return Batch{}, false
	}
	base := int64(binary.BigEndian.Uint64(b))
	return Batch{
		BaseOffset: base,
		LastOffset: base + int64(int32(binary.BigEndian.Uint32(b[23:27]))),
		Attributes: int16(binary.BigEndian.Uint16(b[21:23])),
		BaseTime:   int64(binary.BigEndian.Uint64(b[27:35])),
		MaxTime:    int64(binary.BigEndian.Uint64(b[35:43])),
		ProducerID: int64(binary.BigEndian.Uint64(b[43:51])),
		Count:      int32(binary.BigEndian.Uint32(b[57:61])),
		records:    b[batchHeader:],
	}, true
}

// Err is the error that ended the walk, nil at the end of the records or at a cut batch.
func (bs *Batches) Err() error { return bs.err }

// legacy hands the rest of the records, a legacy message set (magic 0 or 1: no transactions,
// no headers), to kafka-go's decoder, as one batch of copied records. That decoder panics on
// some malformed sets (FuzzBatches found one): the panic is caught and reported as ErrCorrupt.
func (bs *Batches) legacy() (b Batch, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			bs.err = fmt.Errorf("%w: a legacy message set kafka-go cannot decode: %v", ErrCorrupt, p)
			b, ok = Batch{}, false
		}
	}()
	framed := make([]byte, 4+len(bs.rest))
	binary.BigEndian.PutUint32(framed, uint32(len(bs.rest)))
	copy(framed[4:], bs.rest)
	bs.rest = nil
	var rs protocol.RecordSet
	if _, err := rs.ReadFrom(bytes.NewReader(framed)); err != nil {
		bs.err = fmt.Errorf("%w: a legacy message set: %v", ErrCorrupt, err)
		return Batch{}, false
	}
	b = Batch{ProducerID: -1, BaseOffset: -1, LastOffset: -1}
	readers := []protocol.RecordReader{rs.Records}
	if s, ok := rs.Records.(*protocol.RecordStream); ok {
		readers = s.Records
	}
	for _, rr := range readers {
		if rr == nil {
			continue
		}
		if _, control := rr.(*protocol.ControlBatch); control {
			continue // a transaction marker: no record to deliver (a batch after the legacy ones)
		}
		b.legacy = appendRecords(b.legacy, rr)
	}
	if len(b.legacy) == 0 {
		return Batch{}, false
	}
	b.BaseOffset, b.LastOffset = b.legacy[0].Offset, b.legacy[len(b.legacy)-1].Offset
	b.Count = int32(len(b.legacy))
	return b, true
}

// appendRecords appends the records rr reads, copied.
func appendRecords(recs []Record, rr protocol.RecordReader) []Record {
	for {
		rec, err := rr.ReadRecord()
		if err != nil {
			return recs
		}
		r := Record{Offset: rec.Offset, Time: rec.Time}
		if rec.Key != nil {
			r.Key, _ = protocol.ReadAll(rec.Key)
			rec.Key.Close()
		}
		if rec.Value != nil {
			r.Value, _ = protocol.ReadAll(rec.Value)
			rec.Value.Close()
		}
		for _, h := range rec.Headers {
			r.Headers = append(r.Headers, Header{Key: h.Key, Value: h.Value})
		}
		recs = append(recs, r)
	}
}

// Records reads the batch's records, decompressing them first when they are compressed.
// Close it when done: it gives the decompressed bytes back.
func (b *Batch) Records() (*Records, error) {
	rs := &Records{batch: b, data: b.records, left: int(b.Count)}
	if b.legacy != nil {
		return rs, nil
	}
	if c := compress.Compression(b.Attributes & 7); c != compress.None {
		codec := c.Codec()
		if codec == nil {
			return nil, fmt.Errorf("%w: compression codec %d, which Kafka does not define", ErrCorrupt, c)
		}
		rs.buf, _ = zbufs.Get().(*[]byte)
		if rs.buf == nil {
			rs.buf = new([]byte)
		}
		buf := bytes.NewBuffer((*rs.buf)[:0])
		zr := codec.NewReader(bytes.NewReader(b.records))
		_, err := buf.ReadFrom(zr)
		zr.Close()
		*rs.buf = buf.Bytes()
		if err != nil {
			rs.Close()
			return nil, fmt.Errorf("%w: decompressing %s records at offset %d: %v", ErrCorrupt, c, b.BaseOffset, err)
		}
		rs.data = *rs.buf
	}
	return rs, nil
}

// Records reads a batch's records in order.
type Records struct {
	batch *Batch
	data  []byte
	left  int
	buf   *[]byte
	err   error
}

// Next returns the next record, false after the last one or at an error (Err).
func (rs *Records) Next() (Record, bool) {
	if b := rs.batch; b.legacy != nil {
		if rs.left == 0 {
			return Record{}, false
		}
		rs.left--
		return b.legacy[len(b.legacy)-rs.left-1], true
	}
	if rs.left <= 0 || rs.err != nil {
		return Record{}, false
	}
	rs.left--
	size, n := binary.Varint(rs.data)
	if n <= 0 || size < 0 || size > int64(len(rs.data)-n) {
		rs.fail("a record's length")
		return Record{}, false
	}
	r := reader{b: rs.data[n : n+int(size)]}
	rs.data = rs.data[n+int(size):]
	r.take(1) // attributes: none defined
	timeDelta := r.varint()
	offsetDelta := r.varint()
	rec := Record{Offset: rs.batch.BaseOffset + offsetDelta}
	if rs.batch.logAppendTime() {
		rec.Time = time.UnixMilli(rs.batch.MaxTime)
	} else {
		rec.Time = time.UnixMilli(rs.batch.BaseTime + timeDelta)
	}
	rec.Key = r.bytes()
	rec.Value = r.bytes()
	if n := r.varint(); n > 0 && n <= int64(len(r.b)) {
		rec.Headers = make([]Header, n)
		for i := range rec.Headers {
			rec.Headers[i] = Header{Key: string(r.bytes()), Value: r.bytes()}
		}
	} else if n != 0 {
		r.err = errShort
	}
	if r.err != nil {
		rs.fail("a record")
		return Record{}, false
	}
	return rec, true
}

func (rs *Records) fail(what string) {
	rs.err = fmt.Errorf("%w: %s in the batch at offset %d cannot be read", ErrCorrupt, what, rs.batch.BaseOffset)
}

// Err is the error that ended the records, nil at their end.
func (rs *Records) Err() error { return rs.err }

// Close gives the decompressed bytes back; the records read must not be used after.
func (rs *Records) Close() {
	if rs.buf != nil {
		zbufs.Put(rs.buf)
	}
	rs.buf, rs.data = nil, nil
}

// zbufs are the buffers batches are decompressed into, reused batch after batch.
var zbufs sync.Pool

// varint reads a record field's zigzag varint (Kafka's varint and varlong).
func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes reads a varint length and that many bytes; -1 is null (nil).
func (r *reader) bytes() []byte {
	n := r.varint()
	if n < 0 {
		return nil
	}
	return r.take(int(n))
}
