package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/internal/kafkautil"
)

// finalCommitFloor is the least time a generation's final commit is given, even when the drain
// used all of drain_timeout: resolved records that are not committed are sent again.
const finalCommitFloor = 3 * time.Second

// commitFunc commits offsets (topic → partition → next offset) for one generation.
type commitFunc func(ctx context.Context, offsets map[string]map[int]int64) error

// genCommitter commits one generation's offsets. It uses the generation's own connection to the
// group coordinator while that works; once it fails (the coordinator's broker died and kafka-go
// closed the connection, or the coordinator moved) every later commit goes through the worker's
// client, which finds the coordinator anew for each request, with the generation's id and member
// id, so that the broker still refuses it if the group has moved on to a newer generation.
// It is used by one goroutine, the pipeline's.
type genCommitter struct {
	gen interface {
		CommitOffsets(map[string]map[int]int64) error
	}
	client        *kafka.Client
	group, member string
	generation    int
	connBroken    bool // the generation's connection failed once: use the client
}

func (w *Worker) genCommitter(gen *kafka.Generation) commitFunc {
	c := &genCommitter{gen: gen, client: w.client, group: gen.GroupID, member: gen.MemberID, generation: int(gen.ID)}
	return c.commit
}

func (c *genCommitter) commit(ctx context.Context, offsets map[string]map[int]int64) error {
	if !c.connBroken {
		err := c.gen.CommitOffsets(offsets)
		if err == nil || !commitRetryable(err) {
			return err
		}
		c.connBroken = true
		return fmt.Errorf("commit on the generation's coordinator connection: %w", err)
	}
	req := &kafka.OffsetCommitRequest{GroupID: c.group, GenerationID: c.generation, MemberID: c.member,
		Topics: map[string][]kafka.OffsetCommit{}}
	for topic, parts := range offsets {
		for p, off := range parts {
			req.Topics[topic] = append(req.Topics[topic], kafka.OffsetCommit{Partition: p, Offset: off})
		}
	}
	res, err := c.client.OffsetCommit(ctx, req)
	if err != nil {
		return fmt.Errorf("commit through a new coordinator connection: %w", err)
	}
	return kafkautil.CommitErrors(res)
}

// commitRetryable tells a commit worth trying again (a broken connection, a coordinator that
// moved or is loading) from one the broker refused for good: the generation is over
// (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS), and the partitions' next
// owner reads from the last commit.
func commitRetryable(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) {
		return ke.Temporary()
	}
	return !errors.Is(err, context.Canceled)
}

// commitBackoff paces the retries of a final commit: from 100 ms, doubling, at most 2 s apart.
func commitBackoff() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(2*time.Second), backoff.WithMaxElapsedTime(0))
}
