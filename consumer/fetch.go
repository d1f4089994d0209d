package consumer

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/internal/kafkautil"
)

// fetched is one record read from a partition, on its way to the pipeline.
type fetched struct {
	tp  TopicPartition
	msg kafka.Message
}

// fetch reads one partition from start into out until ctx ends. start is a committed offset or
// kafka.FirstOffset/LastOffset; with a non-zero at and no commit, it seeks by time.
func (w *Worker) fetch(ctx context.Context, tp TopicPartition, start int64, out chan<- fetched) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: w.cfg.Brokers, Topic: tp.Topic, Partition: tp.Partition, Dialer: w.cfg.Dialer,
		MinBytes: 1, MaxBytes: w.cfg.FetchMaxBytes, MaxWait: w.cfg.FetchMaxWait, QueueCapacity: 256,
		ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: time.Second,
		// kafka-go's own account of trouble, e.g. a committed offset that retention deleted
		// (it then skips to the first offset still there).
		ErrorLogger: w.kafkaLog(tp),
	})
	defer func() {
		if !kafkautil.CloseReader(r, 5*time.Second) {
			w.log.Warn().Str("topic", tp.Topic).Int("partition", tp.Partition).Msg("partition reader did not close in 5s; leaving it")
		}
	}()
	var err error
	if start < 0 && !w.cfg.StartTime.IsZero() {
		err = r.SetOffsetAt(ctx, w.cfg.StartTime)
	} else {
		err = r.SetOffset(start)
	}
	if err != nil {
		return err
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.log.Warn().Err(err).Str("topic", tp.Topic).Int("partition", tp.Partition).Msg("fetch failed; retrying in 1s")
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		select {
		case out <- fetched{tp: tp, msg: m}:
		case <-ctx.Done():
			return nil
		}
	}
}

// kafkaLog routes a kafka-go error logger to the worker's log, at warn level.
func (w *Worker) kafkaLog(tp TopicPartition) kafka.LoggerFunc {
	return func(msg string, args ...any) {
		w.log.Warn().Str("topic", tp.Topic).Int("partition", tp.Partition).Msgf("kafka-go: "+msg, args...)
	}
}
