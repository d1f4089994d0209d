package kafkautil

import (
	"context"
	"errors"
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
