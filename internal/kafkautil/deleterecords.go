package kafkautil

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// kafka-go v0.4.51 has no DeleteRecords (API key 21). These are its request and response on
// kafka-go's protocol layer, versions 0 to 2 (2 is the flexible encoding, the tag marker below),
// registered so that a kafka.Transport encodes them with the version it negotiated with the
// broker through ApiVersions.
func init() { protocol.Register(&deleteRecordsRequest{}, &deleteRecordsResponse{}) }

type deleteRecordsRequest struct {
	_         struct{}             `kafka:"min=v2,max=v2,tag"`
	Topics    []deleteRecordsTopic `kafka:"min=v0,max=v2"`
	TimeoutMs int32                `kafka:"min=v0,max=v2"`

	leader protocol.Broker // where the request goes: every partition in it has this leader
}

type deleteRecordsTopic struct {
	_          struct{}                 `kafka:"min=v2,max=v2,tag"`
	Name       string                   `kafka:"min=v0,max=v2"`
	Partitions []deleteRecordsPartition `kafka:"min=v0,max=v2"`
}

type deleteRecordsPartition struct {
	_              struct{} `kafka:"min=v2,max=v2,tag"`
	PartitionIndex int32    `kafka:"min=v0,max=v2"`
	Offset         int64    `kafka:"min=v0,max=v2"`
}

func (r *deleteRecordsRequest) ApiKey() protocol.ApiKey { return protocol.DeleteRecords }

// Broker routes the request to the partitions' leader: only a leader deletes records.
func (r *deleteRecordsRequest) Broker(protocol.Cluster) (protocol.Broker, error) {
	return r.leader, nil
}

var _ protocol.BrokerMessage = (*deleteRecordsRequest)(nil)

type deleteRecordsResponse struct {
	_              struct{}                     `kafka:"min=v2,max=v2,tag"`
	ThrottleTimeMs int32                        `kafka:"min=v0,max=v2"`
	Topics         []deleteRecordsResponseTopic `kafka:"min=v0,max=v2"`
}

type deleteRecordsResponseTopic struct {
	_          struct{}                         `kafka:"min=v2,max=v2,tag"`
	Name       string                           `kafka:"min=v0,max=v2"`
	Partitions []deleteRecordsResponsePartition `kafka:"min=v0,max=v2"`
}

type deleteRecordsResponsePartition struct {
	_              struct{} `kafka:"min=v2,max=v2,tag"`
	PartitionIndex int32    `kafka:"min=v0,max=v2"`
	LowWatermark   int64    `kafka:"min=v0,max=v2"`
	ErrorCode      int16    `kafka:"min=v0,max=v2"`
}

func (r *deleteRecordsResponse) ApiKey() protocol.ApiKey { return protocol.DeleteRecords }

// DeleteResult is what the leader answered for one partition: its log start offset (low
// watermark) after the deletion, or the partition's error (a kafka.Error, e.g.
// kafka.OffsetOutOfRange for an offset past the end, kafka.PolicyViolation).
type DeleteResult struct {
	Partition    int
	LowWatermark int64
	Err          error
}

// ErrDeleteRecordsUnsupported: the broker does not offer DeleteRecords in a version this code speaks.
var ErrDeleteRecordsUnsupported = errors.New("the broker does not support DeleteRecords v0-v2")

// DeleteRecords deletes, in each partition of topic named in before, every record before the
// offset given (Kafka's DeleteRecords: the partition's log start moves there; the end offset,
// kafka.LastOffset, deletes everything). It asks each partition's leader, found in the
// cluster's metadata, once; it checks first, through ApiVersions, that the broker speaks
// DeleteRecords. The results are in partition order, one per partition asked, each with the
// new low watermark or the leader's error; err is set only when no partition could be asked.
func DeleteRecords(ctx context.Context, c *kafka.Client, topic string, before map[int]int64, timeout time.Duration) ([]DeleteResult, error) {
	if len(before) == 0 {
		return nil, nil
	}
	if err := checkDeleteRecordsVersion(ctx, c); err != nil {
		return nil, err
	}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("delete records of %s: metadata: %w", topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return nil, fmt.Errorf("delete records of %s: metadata: %w", topic, topicError(md))
	}
	leaders := map[int]kafka.Broker{}
	for _, p := range md.Topics[0].Partitions {
		leaders[p.ID] = p.Leader
	}
	byLeader := map[int][]deleteRecordsPartition{}
	brokers := map[int]protocol.Broker{}
	var results []DeleteResult
	for p, off := range before {
		l, ok := leaders[p]
		if !ok {
			results = append(results, DeleteResult{Partition: p, Err: fmt.Errorf("%s/%d: %w", topic, p, kafka.UnknownTopicOrPartition)})
			continue
		}
		byLeader[l.ID] = append(byLeader[l.ID], deleteRecordsPartition{PartitionIndex: int32(p), Offset: off})
		brokers[l.ID] = protocol.Broker{ID: int32(l.ID), Host: l.Host, Port: int32(l.Port), Rack: l.Rack}
	}
	transport := cmp.Or[kafka.RoundTripper](c.Transport, kafka.DefaultTransport)
	for id, parts := range byLeader {
		req := &deleteRecordsRequest{Topics: []deleteRecordsTopic{{Name: topic, Partitions: parts}},
			TimeoutMs: int32(timeout.Milliseconds()), leader: brokers[id]}
		res, err := transport.RoundTrip(ctx, c.Addr, req)
		if err != nil {
			for _, p := range parts {
				results = append(results, DeleteResult{Partition: int(p.PartitionIndex), Err: fmt.Errorf("%s/%d: leader %d: %w", topic, p.PartitionIndex, id, err)})
			}
			continue
		}
		answered := map[int32]bool{}
		for _, t := range res.(*deleteRecordsResponse).Topics {
			for _, p := range t.Partitions {
				r := DeleteResult{Partition: int(p.PartitionIndex), LowWatermark: p.LowWatermark}
				if p.ErrorCode != 0 {
					r.Err = fmt.Errorf("%s/%d: %w", topic, p.PartitionIndex, kafka.Error(p.ErrorCode))
				}
				answered[p.PartitionIndex] = true
				results = append(results, r)
			}
		}
		for _, p := range parts {
			if !answered[p.PartitionIndex] {
				results = append(results, DeleteResult{Partition: int(p.PartitionIndex), Err: fmt.Errorf("%s/%d: leader %d gave no answer for it", topic, p.PartitionIndex, id)})
			}
		}
	}
	slices.SortFunc(results, func(a, b DeleteResult) int { return cmp.Compare(a.Partition, b.Partition) })
	return results, nil
}

func topicError(md *kafka.MetadataResponse) error {
	if len(md.Topics) != 1 {
		return fmt.Errorf("%d topics in the answer", len(md.Topics))
	}
	return md.Topics[0].Error
}

// checkDeleteRecordsVersion asks a broker which DeleteRecords versions it speaks.
func checkDeleteRecordsVersion(ctx context.Context, c *kafka.Client) error {
	res, err := c.ApiVersions(ctx, &kafka.ApiVersionsRequest{})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return fmt.Errorf("delete records: api versions: %w", err)
	}
	for _, k := range res.ApiKeys {
		if k.ApiKey == int(protocol.DeleteRecords) {
			if k.MinVersion > 2 || k.MaxVersion < 0 {
				return fmt.Errorf("delete records: the broker speaks v%d-v%d: %w", k.MinVersion, k.MaxVersion, ErrDeleteRecordsUnsupported)
			}
			return nil
		}
	}
	return fmt.Errorf("delete records: %w", ErrDeleteRecordsUnsupported)
}
