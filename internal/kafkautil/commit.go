package kafkautil

import (
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// CommitErrors joins the per-partition errors of an OffsetCommit answer, each naming its
// topic and partition; nil when every partition was committed.
func CommitErrors(res *kafka.OffsetCommitResponse) error {
	var errs []error
	for topic, parts := range res.Topics {
		for _, p := range parts {
			if p.Error != nil {
				errs = append(errs, fmt.Errorf("commit %s/%d: %w", topic, p.Partition, p.Error))
			}
		}
	}
	return errors.Join(errs...)
}
