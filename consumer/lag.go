package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/internal/kafkafetch"
	"github.com/profile-ingest/profile-ingest/internal/kafkautil"
)

// reportLag sets profile_ingest_consumer_lag_records for the partitions a generation owns, every
// LagInterval until ctx ends, and then removes them (their next owner reports them). The lag is
// what the broker says, not what the pipeline believes: the log end offset minus the group's
// committed offset (minus the log start offset without a commit), so a stalled worker shows a
// growing lag. profile_ingest_consumer_lag_seconds is the age (by its Kafka timestamp) of the
// first record after the commit, 0 without lag: it grows with the wall clock when nothing is
// committed, however few records wait.
func (w *Worker) reportLag(ctx context.Context, owned []TopicPartition) {
	defer func() {
		for _, tp := range owned {
			w.m.lag.DeleteLabelValues(tp.Topic, strconv.Itoa(tp.Partition))
			w.m.lagSeconds.DeleteLabelValues(tp.Topic, strconv.Itoa(tp.Partition))
		}
	}()
	if w.cfg.LagInterval <= 0 || len(owned) == 0 {
		return
	}
	t := time.NewTicker(w.cfg.LagInterval)
	defer t.Stop()
	for {
		lags, from, err := w.lag(ctx, owned)
		switch {
		case err != nil && ctx.Err() == nil:
			w.log.Debug().Err(err).Msg("consumer lag not measured")
		case err == nil:
			for tp, n := range lags {
				w.m.lag.WithLabelValues(tp.Topic, strconv.Itoa(tp.Partition)).Set(float64(n))
				if age, ok := w.ageAt(ctx, tp, from[tp], n); ok {
					w.m.lagSeconds.WithLabelValues(tp.Topic, strconv.Itoa(tp.Partition)).Set(age.Seconds())
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ageAt is how old the record at offset from is (0 when lag is 0): one fetch of the batch that
// holds it. The fetch asks for 1 byte, so the broker sends that batch alone (it always sends
// the first batch whole): measuring the lag of many partitions with long backlogs reads a batch
// of each, not a megabyte of each, outside the in-flight budget, every lag_interval.
func (w *Worker) ageAt(ctx context.Context, tp TopicPartition, from, lag int64) (time.Duration, bool) {
	if lag == 0 {
		return 0, true
	}
	rt := w.client.Transport
	if rt == nil {
		rt = kafka.DefaultTransport
	}
	fctx, cancel := context.WithTimeout(ctx, w.client.Timeout)
	defer cancel()
	res, err := rt.RoundTrip(fctx, w.client.Addr, &kafkafetch.Request{MaxWait: 500 * time.Millisecond, MinBytes: 1, MaxBytes: 1,
		ClientID: clientIDOf(rt), Topics: []kafkafetch.Topic{{Topic: tp.Topic, Partitions: []kafkafetch.Partition{{Partition: int32(tp.Partition), Offset: from, MaxBytes: 1}}}}})
	if err == nil {
		a, ok := res.(*kafkafetch.Answer)
		if !ok {
			return 0, false
		}
		defer a.Release()
		if at, found := firstTimeFrom(a, from); found {
			return max(time.Since(at), 0), true
		}
		err = errors.New("no record at or after the committed offset in the answer")
	}
	if ctx.Err() == nil {
		w.log.Debug().Err(err).Str("topic", tp.Topic).Int("partition", tp.Partition).Msg("consumer lag age not measured")
	}
	return 0, false
}

// firstTimeFrom returns the time of the first data record at or after offset from in a.
func firstTimeFrom(a *kafkafetch.Answer, from int64) (time.Time, bool) {
	if a.ErrorCode != 0 {
		return time.Time{}, false
	}
	for _, t := range a.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				continue
			}
			batches := kafkafetch.NewBatches(p.Records)
			for {
				b, ok := batches.Next()
				if !ok {
					break
				}
				if b.Control() || b.LastOffset < from {
					continue
				}
				recs, err := b.Records()
				if err != nil {
					break
				}
				for {
					r, ok := recs.Next()
					if !ok {
						break
					}
					if r.Offset >= from { // a batch may start before from
						recs.Close()
						return r.Time, true
					}
				}
				recs.Close()
			}
		}
	}
	return time.Time{}, false
}

// lag asks the broker for the end offsets and the group's commits of owned: the lag of each, and
// the offset it counts from.
func (w *Worker) lag(ctx context.Context, owned []TopicPartition) (lags, from map[TopicPartition]int64, err error) {
	byTopic := map[string][]int{}
	for _, tp := range owned {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	committed, err := w.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: w.cfg.GroupID, Topics: byTopic})
	if err != nil {
		return nil, nil, err
	}
	if committed.Error != nil {
		return nil, nil, committed.Error
	}
	ends, err := w.listOffsets(ctx, byTopic, kafka.LastOffset)
	if err != nil {
		return nil, nil, err
	}
	from = map[TopicPartition]int64{}
	noCommit := map[string][]int{}
	for topic, parts := range committed.Topics {
		for _, p := range parts {
			tp := TopicPartition{topic, p.Partition}
			if p.CommittedOffset >= 0 {
				from[tp] = p.CommittedOffset
			} else {
				noCommit[topic] = append(noCommit[topic], p.Partition)
			}
		}
	}
	if len(noCommit) > 0 {
		starts, err := w.listOffsets(ctx, noCommit, kafka.FirstOffset)
		if err != nil {
			return nil, nil, err
		}
		for tp, o := range starts {
			from[tp] = o
		}
	}
	out := make(map[TopicPartition]int64, len(owned))
	for _, tp := range owned {
		end, ok1 := ends[tp]
		start, ok2 := from[tp]
		if ok1 && ok2 {
			out[tp] = lagOf(end, start)
		}
	}
	return out, from, nil
}

// lagOf is the number of records from offset from to the log end offset end; never negative.
func lagOf(end, from int64) int64 { return max(end-from, 0) }

// listOffsets asks one kind of offset (kafkautil.Offsets' which) for the partitions.
func (w *Worker) listOffsets(ctx context.Context, parts map[string][]int, which int64) (map[TopicPartition]int64, error) {
	return w.listOffsetsAs(ctx, parts, which, kafka.ReadUncommitted)
}

// listOffsetsAs is listOffsets as a consumer with the isolation level sees them.
func (w *Worker) listOffsetsAs(ctx context.Context, parts map[string][]int, which int64, level kafka.IsolationLevel) (map[TopicPartition]int64, error) {
	byTopic, err := kafkautil.OffsetsAs(ctx, w.client, parts, which, level)
	if err != nil {
		return nil, fmt.Errorf("consumer: list offsets: %w", err)
	}
	out := map[TopicPartition]int64{}
	for topic, ps := range byTopic {
		for p, o := range ps {
			out[TopicPartition{topic, p}] = o
		}
	}
	return out, nil
}
