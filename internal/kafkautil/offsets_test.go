package kafkautil

import (
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestRetriable(t *testing.T) {
	answer := func(errs ...error) *kafka.ListOffsetsResponse {
		res := &kafka.ListOffsetsResponse{Topics: map[string][]kafka.PartitionOffsets{}}
		for i, err := range errs {
			res.Topics["t"] = append(res.Topics["t"], kafka.PartitionOffsets{Partition: i, Error: err})
		}
		return res
	}
	for _, c := range []struct {
		name string
		res  *kafka.ListOffsetsResponse
		want bool
	}{
		{"every partition answered", answer(nil, nil), false},
		{"a partition without its leader yet", answer(nil, kafka.NotLeaderForPartition), true},
		{"a leader election under way", answer(kafka.LeaderNotAvailable), true},
		{"wrapped", answer(fmt.Errorf("p0: %w", kafka.NotLeaderForPartition)), true},
		{"not allowed: asking again will not help", answer(kafka.TopicAuthorizationFailed), false},
		{"no topics", answer(), false},
	} {
		if got := retriable(c.res); got != c.want {
			t.Errorf("%s: retriable = %v, want %v", c.name, got, c.want)
		}
	}
}
