package consumer

import (
	"context"
	"errors"
	"time"

	"github.com/segmentio/kafka-go"
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
	})
	// kafka-go's Reader.Close can hang (segmentio/kafka-go#1248): never let it hold the generation.
	defer func() {
		done := make(chan struct{})
		go func() { _ = r.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
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
			if errors.Is(err, kafka.OffsetOutOfRange) {
				return err
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
