// Package kafkafetch sends Kafka Fetch requests through kafka-go's Transport and reads their
// answers as bytes, record batches and records, without kafka-go's per-record decoding. A
// Request and its Answer belong to one goroutine at a time; the package holds no other state
// than pools of buffers.
//
// kafka-go decodes every record of a fetch answer into its page buffers before the caller sees
// it, and hides what a consumer needs to cross compacted batches (a batch's last offset) and to
// date records of a LogAppendTime topic (its max timestamp). A Request is a kafka-go message
// that makes its own exchange on the connection kafka-go's Transport chose, authenticated and
// encrypted as configured (protocol.RawExchanger): it writes Fetch v11 and reads the answer
// into one buffer; Batches then walks the answer's record batches in place, checking each
// batch's CRC-32C as the Java client does, decompressing with kafka-go's codecs, and handing
// legacy message sets (magic 0 and 1) to kafka-go's own decoder.
package kafkafetch

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/fetch"
)

// version is the Fetch version spoken: the last before flexible versions, the one kafka-go
// speaks, served by Kafka 2.3 and later (4.x serves 4 to 17).
const version = 11

// Request is one Fetch request. Send it with a kafka-go Transport's RoundTrip; the answer is
// an *Answer.
type Request struct {
	MaxWait        time.Duration
	MinBytes       int32
	MaxBytes       int32
	IsolationLevel int8 // 0 read uncommitted, 1 read committed
	ClientID       string
	Topics         []Topic

	brokerVersion int16 // the Fetch version the connection negotiated, set by Required
}

// Topic is a topic's partitions in a Request.
type Topic struct {
	Topic      string
	Partitions []Partition
}

// Partition is one partition to fetch, from Offset, at most MaxBytes of it (the broker sends
// the first batch whole even when it is larger).
type Partition struct {
	Partition int32
	Offset    int64
	MaxBytes  int32
}

var (
	_ protocol.Message       = (*Request)(nil)
	_ protocol.BrokerMessage = (*Request)(nil)
	_ protocol.RawExchanger  = (*Request)(nil)
	_ protocol.Message       = (*Answer)(nil)
)

// ApiKey is Fetch.
func (r *Request) ApiKey() protocol.ApiKey { return protocol.Fetch }

// Broker routes the request to the leader of its partitions, which must all have the same one.
func (r *Request) Broker(c protocol.Cluster) (protocol.Broker, error) {
	broker := protocol.Broker{ID: -1}
	for _, t := range r.Topics {
		topic, ok := c.Topics[t.Topic]
		if !ok {
			return broker, fetch.NewError(protocol.NewErrNoTopic(t.Topic))
		}
		for _, p := range t.Partitions {
			part, ok := topic.Partitions[p.Partition]
			if !ok {
				return broker, fetch.NewError(protocol.NewErrNoPartition(t.Topic, p.Partition))
			}
			b, ok := c.Brokers[part.Leader]
			switch {
			case !ok:
				return broker, fetch.NewError(protocol.NewErrNoLeader(t.Topic, p.Partition))
			case broker.ID < 0:
				broker = b
			case b.ID != broker.ID:
				return broker, fetch.NewError(fmt.Errorf("partitions led by brokers %d and %d in one request", broker.ID, b.ID))
			}
		}
	}
	return broker, nil
}

// Required is called by kafka-go's connection with the versions it negotiated: the exchange
// is always the Request's own.
func (r *Request) Required(versions map[protocol.ApiKey]int16) bool {
	r.brokerVersion = versions[protocol.Fetch]
	return true
}

// RawExchange writes the request on rw, kafka-go's connection to the broker, and reads the
// answer. An error leaves the connection unusable; kafka-go closes it.
func (r *Request) RawExchange(rw io.ReadWriter) (protocol.Message, error) {
	if r.brokerVersion < version {
		return nil, fmt.Errorf("kafka: the broker serves Fetch up to v%d; v%d (Kafka 2.3) or later is needed", r.brokerVersion, version)
	}
	const correlationID = 0x6b66 // one request per exchange: any id will do
	if _, err := rw.Write(r.encode(correlationID)); err != nil {
		return nil, err
	}
	var head [8]byte
	if _, err := io.ReadFull(rw, head[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(head[:4])) - 4
	if id := int32(binary.BigEndian.Uint32(head[4:])); id != correlationID {
		return nil, fmt.Errorf("kafka: fetch answer for request %d, want %d", id, correlationID)
	}
	if size < 0 || size > maxAnswer {
		return nil, fmt.Errorf("kafka: fetch answer of %d bytes", size)
	}
	a := &Answer{buf: getBuf(int(size))}
	data := (*a.buf)[:size]
	if _, err := io.ReadFull(rw, data); err != nil {
		a.Release()
		return nil, err
	}
	if err := a.parse(data); err != nil {
		a.Release()
		return nil, err
	}
	return a, nil
}

// maxAnswer bounds the answer read: the protocol's sizes are int32, and a fetch asks for 1 GiB
// at most.
const maxAnswer = 1<<30 + 1<<20

// encode returns the request, framed, in Fetch v11 with a v1 request header.
func (r *Request) encode(correlationID int32) []byte {
	b := make([]byte, 4, 64+len(r.Topics)*64)
	b = be16(b, int16(protocol.Fetch))
	b = be16(b, version)
	b = be32(b, correlationID)
	b = str(b, r.ClientID)
	b = be32(b, -1) // replica id: a consumer
	b = be32(b, int32(r.MaxWait.Milliseconds()))
	b = be32(b, r.MinBytes)
	b = be32(b, r.MaxBytes)
	b = append(b, byte(r.IsolationLevel))
	b = be32(b, 0)  // session id: no fetch session
	b = be32(b, -1) // session epoch: a full fetch
	b = be32(b, int32(len(r.Topics)))
	for _, t := range r.Topics {
		b = str(b, t.Topic)
		b = be32(b, int32(len(t.Partitions)))
		for _, p := range t.Partitions {
			b = be32(b, p.Partition)
			b = be32(b, -1) // current leader epoch: not checked
			b = be64(b, p.Offset)
			b = be64(b, -1) // log start offset: a consumer's is none
			b = be32(b, p.MaxBytes)
		}
	}
	b = be32(b, 0) // forgotten topics
	b = str(b, "") // rack id
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func be16(b []byte, v int16) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }
func be32(b []byte, v int32) []byte { return binary.BigEndian.AppendUint32(b, uint32(v)) }
func be64(b []byte, v int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(v)) }
func str(b []byte, s string) []byte { return append(be16(b, int16(len(s))), s...) }

// Answer buffers are reused: an answer is read into one, its records are copied out, and it is
// released before the next answer of the same size comes.
var bufs sync.Pool

func getBuf(n int) *[]byte {
	if b, ok := bufs.Get().(*[]byte); ok && cap(*b) >= n {
		return b
	}
	b := make([]byte, n)
	return &b
}

func putBuf(b *[]byte) {
	if b != nil {
		bufs.Put(b)
	}
}
