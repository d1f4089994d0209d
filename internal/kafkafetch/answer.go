package kafkafetch

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go/protocol"
)

// Answer is a Fetch v11 answer. Its partitions' Records point into one buffer, which Release
// gives back: copy what is kept first.
type Answer struct {
	ThrottleTime int32 // milliseconds
	ErrorCode    int16
	Topics       []AnswerTopic

	buf *[]byte
}

// AnswerTopic is a topic's partitions in an Answer.
type AnswerTopic struct {
	Topic      string
	Partitions []AnswerPartition
}

// AnswerPartition is one partition's part of an Answer.
type AnswerPartition struct {
	Partition        int32
	ErrorCode        int16
	HighWatermark    int64
	LastStableOffset int64 // -1 when the broker does not know it
	LogStartOffset   int64
	Aborted          []Aborted // read committed only: the aborted transactions the records overlap
	Records          []byte    // record batches; the last may be cut short
}

// Aborted is an aborted transaction: its producer, and its first offset.
type Aborted struct {
	ProducerID  int64
	FirstOffset int64
}

// ApiKey is Fetch.
func (a *Answer) ApiKey() protocol.ApiKey { return protocol.Fetch }

// Release gives the answer's buffer back for another answer; a must not be used after.
func (a *Answer) Release() {
	putBuf(a.buf)
	a.buf, a.Topics = nil, nil
}

// errShort is a truncated answer.
var errShort = errors.New("kafka: fetch answer cut short")

// reader reads an answer's fields, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = errShort
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) i16() int16 {
	if b := r.take(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *reader) i32() int32 {
	if b := r.take(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (r *reader) i64() int64 {
	if b := r.take(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

// count reads an array's length, -1 (null) as 0, each element at least min bytes long.
func (r *reader) count(min int) int {
	n := int(r.i32())
	if n < 0 {
		return 0
	}
	if r.err == nil && n*min > len(r.b) {
		r.err = errShort
		return 0
	}
	return n
}

func (r *reader) str() string {
	n := int(r.i16())
	if n < 0 {
		return ""
	}
	return string(r.take(n))
}

// parse reads a Fetch v11 answer's body (after its correlation id).
func (a *Answer) parse(b []byte) error {
	r := &reader{b: b}
	a.ThrottleTime = r.i32()
	a.ErrorCode = r.i16()
	r.i32() // session id
	a.Topics = make([]AnswerTopic, r.count(6))
	for i := range a.Topics {
		t := &a.Topics[i]
		t.Topic = r.str()
		t.Partitions = make([]AnswerPartition, r.count(42))
		for j := range t.Partitions {
			p := &t.Partitions[j]
			p.Partition = r.i32()
			p.ErrorCode = r.i16()
			p.HighWatermark = r.i64()
			p.LastStableOffset = r.i64()
			p.LogStartOffset = r.i64()
			if n := r.count(16); n > 0 {
				p.Aborted = make([]Aborted, n)
				for k := range p.Aborted {
					p.Aborted[k] = Aborted{ProducerID: r.i64(), FirstOffset: r.i64()}
				}
			}
			r.i32() // preferred read replica
			if n := r.i32(); n > 0 {
				p.Records = r.take(int(n))
			}
		}
	}
	if r.err != nil {
		return fmt.Errorf("%w (%d bytes)", r.err, len(b))
	}
	return nil
}
