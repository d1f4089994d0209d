package kafkafetch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/segmentio/kafka-go/compress"
)

// AppendBatch appends b as a magic 2 record batch, as a producer (or, for control batches, a
// broker) writes it, compressed as b.Attributes say, and returns the result. It is how tests
// and tools make the answers a broker gives: b.Records' offsets must lie from b.BaseOffset to
// b.LastOffset, and their times from b.BaseTime on; b.Count is ignored.
func AppendBatch(dst []byte, b Batch, records ...Record) ([]byte, error) {
	var recs []byte
	for _, r := range records {
		var rec []byte
		rec = append(rec, 0) // attributes
		rec = binary.AppendVarint(rec, r.Time.UnixMilli()-b.BaseTime)
		rec = binary.AppendVarint(rec, r.Offset-b.BaseOffset)
		rec = appendBytes(rec, r.Key)
		rec = appendBytes(rec, r.Value)
		rec = binary.AppendVarint(rec, int64(len(r.Headers)))
		for _, h := range r.Headers {
			rec = appendBytes(rec, []byte(h.Key))
			rec = appendBytes(rec, h.Value)
		}
		recs = binary.AppendVarint(recs, int64(len(rec)))
		recs = append(recs, rec...)
	}
	if c := compress.Compression(b.Attributes & 7); c != compress.None {
		codec := c.Codec()
		if codec == nil {
			return dst, fmt.Errorf("kafkafetch: compression codec %d", c)
		}
		var z bytes.Buffer
		w := codec.NewWriter(&z)
		if _, err := w.Write(recs); err != nil {
			return dst, err
		}
		if err := w.Close(); err != nil {
			return dst, err
		}
		recs = z.Bytes()
	}
	start := len(dst)
	dst = be64(dst, b.BaseOffset)
	dst = be32(dst, int32(batchHeader-12+len(recs)))
	dst = be32(dst, 0) // partition leader epoch
	dst = append(dst, 2)
	dst = be32(dst, 0) // CRC-32C, below
	dst = be16(dst, b.Attributes)
	dst = be32(dst, int32(b.LastOffset-b.BaseOffset))
	dst = be64(dst, b.BaseTime)
	dst = be64(dst, b.MaxTime)
	dst = be64(dst, b.ProducerID)
	dst = be16(dst, 0)  // producer epoch
	dst = be32(dst, -1) // base sequence
	dst = be32(dst, int32(len(records)))
	dst = append(dst, recs...)
	binary.BigEndian.PutUint32(dst[start+17:], crc32.Checksum(dst[start+21:], castagnoli))
	return dst, nil
}

func appendBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	return append(binary.AppendVarint(b, int64(len(v))), v...)
}
