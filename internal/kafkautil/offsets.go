package kafkautil

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// offsetsPatience bounds how long ListOffsets waits out a partition that has no leader yet.
const offsetsPatience = 15 * time.Second

// ListOffsets asks req of the cluster and asks again, for up to 15 seconds, while a partition
// answers with an error Kafka calls retriable. A broker that has just created a topic, or has
// just restarted, lists it with a leader in its metadata a moment before the leader serves it,
// and answers NOT_LEADER_OR_FOLLOWER meanwhile. Any other error returns at once.
func ListOffsets(ctx context.Context, c *kafka.Client, req *kafka.ListOffsetsRequest) (*kafka.ListOffsetsResponse, error) {
	deadline := time.Now().Add(offsetsPatience)
	for {
		res, err := c.ListOffsets(ctx, req)
		if err != nil || !retriable(res) || time.Now().After(deadline) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// retriable reports whether some partition of res failed with a retriable error.
func retriable(res *kafka.ListOffsetsResponse) bool {
	for _, parts := range res.Topics {
		for _, p := range parts {
			var kerr kafka.Error
			if errors.As(p.Error, &kerr) && kerr.Temporary() {
				return true
			}
		}
	}
	return false
}

// Offsets lists one kind of offset of every partition in parts, by topic and partition: which
// is kafka.FirstOffset, kafka.LastOffset, or a time in Unix milliseconds (then the first offset
// at or after it, -1 when there is none). Kafka refuses two kinds of the same partition in one
// request. It asks again as ListOffsets does; any other partition error, or a partition without
// an answer, is returned naming the partition.
func Offsets(ctx context.Context, c *kafka.Client, parts map[string][]int, which int64) (map[string]map[int]int64, error) {
	return OffsetsAs(ctx, c, parts, which, kafka.ReadUncommitted)
}

// OffsetsAs is Offsets as a consumer with the isolation level sees them: with
// kafka.ReadCommitted, the end of a partition is its last stable offset (before the first
// transaction still open), which is as far as such a consumer can read.
func OffsetsAs(ctx context.Context, c *kafka.Client, parts map[string][]int, which int64, level kafka.IsolationLevel) (map[string]map[int]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}, IsolationLevel: level}
	for topic, ps := range parts {
		for _, p := range ps {
			req.Topics[topic] = append(req.Topics[topic], kafka.OffsetRequest{Partition: p, Timestamp: which})
		}
	}
	res, err := ListOffsets(ctx, c, req)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[int]int64, len(parts))
	for topic, ps := range res.Topics {
		out[topic] = make(map[int]int64, len(ps))
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error)
			}
			switch which {
			case kafka.FirstOffset:
				out[topic][p.Partition] = p.FirstOffset
			case kafka.LastOffset:
				out[topic][p.Partition] = p.LastOffset
			default:
				out[topic][p.Partition] = -1
				for off := range p.Offsets {
					out[topic][p.Partition] = off
				}
			}
		}
	}
	for topic, ps := range parts {
		for _, p := range ps {
			if _, ok := out[topic][p]; !ok {
				return nil, fmt.Errorf("%s/%d: no answer", topic, p)
			}
		}
	}
	return out, nil
}
