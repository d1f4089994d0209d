package consumer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/batcher"
	"github.com/profile-ingest/profile-ingest/dlq"
	"github.com/profile-ingest/profile-ingest/internal/kafkautil"
	"github.com/profile-ingest/profile-ingest/profile"
	"github.com/profile-ingest/profile-ingest/sender"
)

// Decoder turns a record's value into an identity event; its error is a *profile.Error, or a
// *profile.Skip for a record that carries nothing to send, which is committed past and counted.
// It may write the event's body into buf's storage when it is large enough (as
// profile.Decoder.DecodeTo does; the worker hands it the free end of a buffer shared by a run
// of records) or ignore buf. It must be safe for concurrent use: Config.DecodeWorkers
// goroutines call it at once, each with a buf of its own (profile.Decoder and the mapping
// decoders are).
type Decoder func(buf, value []byte, origin profile.Origin) (profile.Event, error)

// IgnoreBuf adapts a decoder that allocates its bodies itself.
func IgnoreBuf(decode func(value []byte, origin profile.Origin) (profile.Event, error)) Decoder {
	return func(_, value []byte, origin profile.Origin) (profile.Event, error) { return decode(value, origin) }
}

// Dispatcher sends chunks, keeping per-user order; *sender.Dispatcher is one.
type Dispatcher interface {
	Submit(ctx context.Context, c batcher.Chunk, done func(batcher.Chunk, []sender.Result)) error
	Wait(ctx context.Context) error
}

// DeadLetters writes failed records and returns once they are durable; *dlq.Writer is one.
type DeadLetters interface {
	Write(ctx context.Context, recs ...dlq.Record) error
}

var (
	_ Dispatcher  = (*sender.Dispatcher)(nil)
	_ DeadLetters = (*dlq.Writer)(nil)
)

// ErrDrainTimeout is returned by Run when the shutdown drain did not resolve every record in
// time: nothing is lost (what was not resolved is not committed), but it will be sent again.
var ErrDrainTimeout = errors.New("consumer: drain timed out; unresolved records will be redelivered")

// Worker consumes profile mutations with a Kafka consumer group and delivers them. Run it once.
type Worker struct {
	cfg      Config
	decode   Decoder
	batch    batcher.Config
	dispatch Dispatcher
	dead     DeadLetters
	log      zerolog.Logger
	m        *metrics
	stats    stats
	ready    atomic.Bool
	client   *kafka.Client
	slots    int // chunks the dispatcher sends at once (WithSendSlots)
}

// Snapshot counts what a Worker did; Worker.Stats returns a copy.
type Snapshot struct {
	Consumed, Delivered, Abandoned int64
	Skipped                        int64            // committed past: the decoder's *profile.Skip
	DeadLettered                   map[string]int64 // by reason
}

// stats is the Worker's live Snapshot; the pipeline and dead-letter goroutines both update it.
type stats struct {
	mu sync.Mutex
	s  Snapshot
}

// Option sets an optional collaborator.
type Option func(*Worker)

// WithLogger sets the logger. Default: none.
func WithLogger(l zerolog.Logger) Option { return func(w *Worker) { w.log = l } }

// WithRegisterer registers the worker's metrics. Default: none.
func WithRegisterer(r prometheus.Registerer) Option { return func(w *Worker) { w.m = newMetrics(r) } }

// WithSendSlots says how many chunks the dispatcher sends at once (sender.max_in_flight): the
// pipeline keeps at most that many chunks open (8 at most), since more would add requests
// without adding parallelism. Default: 4, the sender's default.
func WithSendSlots(n int) Option { return func(w *Worker) { w.slots = n } }

// New returns a Worker. decode, dispatch and dead are required.
func New(cfg Config, decode Decoder, batch batcher.Config, dispatch Dispatcher, dead DeadLetters, opts ...Option) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := batch.Validate(); err != nil {
		return nil, err
	}
	if decode == nil || dispatch == nil || dead == nil {
		return nil, errors.New("consumer: decode, dispatch and dead-letters are required")
	}
	w := &Worker{
		cfg: cfg, decode: decode, batch: batch, dispatch: dispatch, dead: dead,
		log: zerolog.Nop(), m: newMetrics(nil), slots: 4,
		stats:  stats{s: Snapshot{DeadLettered: map[string]int64{}}},
		client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second},
	}
	switch {
	case cfg.Transport != nil:
		w.client.Transport = cfg.Transport
	case cfg.Dialer != nil:
		w.client.Transport = &kafka.Transport{SASL: cfg.Dialer.SASLMechanism, TLS: cfg.Dialer.TLS, DialTimeout: cfg.Dialer.Timeout}
	}
	for _, o := range opts {
		o(w)
	}
	return w, nil
}

// Stats returns a copy of the counts so far.
func (w *Worker) Stats() Snapshot {
	w.stats.mu.Lock()
	defer w.stats.mu.Unlock()
	s := w.stats.s
	s.DeadLettered = maps.Clone(s.DeadLettered)
	return s
}

// Ready reports whether the worker is in a consumer group generation.
func (w *Worker) Ready() error {
	if !w.ready.Load() {
		return errors.New("consumer: not in a consumer group generation")
	}
	return nil
}

// Run consumes until ctx ends (then it drains: stop fetching, flush, wait for in-flight records
// up to DrainTimeout, commit) or, with StopAtEnd, until every partition is committed up to its
// end offset at start. It returns nil after a clean stop, ErrDrainTimeout when the drain left
// records unresolved, and any other error when the group cannot go on.
func (w *Worker) Run(ctx context.Context) error {
	var targets map[TopicPartition]int64
	if w.cfg.StopAtEnd {
		// The cluster may be restarting: wait for it, as the group join below does.
		err := kafkautil.UntilReachable(ctx, func(ctx context.Context) (err error) {
			targets, err = w.endOffsets(ctx)
			return err
		}, func(err error, next time.Duration) {
			w.log.Warn().Err(err).Dur("retry_in", next).Msg("stop-at-end: reading the end offsets failed; retrying")
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		w.log.Info().Int("partitions", len(targets)).Msg("stop-at-end: consuming up to the current end offsets")
	}
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: w.cfg.GroupID, Brokers: w.cfg.Brokers, Dialer: w.cfg.Dialer, Topics: w.cfg.Topics,
		StartOffset:           w.startOffset(),
		SessionTimeout:        w.cfg.SessionTimeout,
		HeartbeatInterval:     w.cfg.HeartbeatInterval,
		RebalanceTimeout:      w.cfg.RebalanceTimeout,
		JoinGroupBackoff:      time.Second,
		Timeout:               10 * time.Second,
		WatchPartitionChanges: true,
	})
	if err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	defer cg.Close()
	joinFailures := 0
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			joinFailures++
			w.joinFailed(err, joinFailures)
			continue
		}
		joinFailures = 0
		done := make(chan genResult, 1)
		gen.Start(func(genCtx context.Context) { done <- w.runGeneration(ctx, genCtx, gen, targets) })
		res := <-done
		w.ready.Store(false)
		if res.err != nil {
			return res.err
		}
		// A drain that timed out at a rebalance only means records are read again by the next
		// owner; at shutdown it is what Run reports.
		if res.finished || ctx.Err() != nil {
			if res.drainTimedOut {
				return ErrDrainTimeout
			}
			return nil
		}
	}
}

// startOffset is kafka.FirstOffset when seeking by time, so that a partition without a commit
// shows as such and fetch can seek it.
func (w *Worker) startOffset() int64 {
	if !w.cfg.StartTime.IsZero() {
		return kafka.FirstOffset
	}
	return w.cfg.StartOffset
}

// endOffsets lists the end offset of every partition of the topics.
func (w *Worker) endOffsets(ctx context.Context) (map[TopicPartition]int64, error) {
	md, err := w.client.Metadata(ctx, &kafka.MetadataRequest{Topics: w.cfg.Topics})
	if err != nil {
		return nil, fmt.Errorf("consumer: metadata: %w", err)
	}
	parts := map[string][]int{}
	for _, t := range md.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("consumer: topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
		}
	}
	// As far as a consumer with the isolation level can read: with read_committed, up to the
	// last stable offset (a transaction still open cannot hold a backfill up).
	return w.listOffsetsAs(ctx, parts, kafka.LastOffset, w.cfg.IsolationLevel)
}

// groupReached reports whether the group's commits reach every target offset, for the
// partitions this worker does not own (other members commit them).
func (w *Worker) groupReached(ctx context.Context, targets map[TopicPartition]int64, owned map[TopicPartition]bool) (bool, error) {
	req := map[string][]int{}
	for tp, end := range targets {
		if !owned[tp] && end > 0 {
			req[tp.Topic] = append(req[tp.Topic], tp.Partition)
		}
	}
	if len(req) == 0 {
		return true, nil
	}
	res, err := w.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: w.cfg.GroupID, Topics: req})
	if err == nil {
		err = res.Error // e.g. the coordinator is loading or moved: no answer, not "reached"
	}
	if err != nil {
		return false, err
	}
	answered := 0
	for topic, parts := range res.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return false, fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error)
			}
			if tp := (TopicPartition{topic, p.Partition}); slices.Contains(req[topic], p.Partition) {
				if p.CommittedOffset < targets[tp] {
					return false, nil
				}
				answered++
			}
		}
	}
	asked := 0
	for _, ps := range req {
		asked += len(ps)
	}
	if answered < asked {
		return false, fmt.Errorf("the group's offsets: %d of %d partitions answered", answered, asked)
	}
	return true, nil
}

// quietJoinFailures is how many times in a row joining may fail with an error Kafka calls
// retriable before it is a warning: a new cluster answers COORDINATOR_NOT_AVAILABLE until it
// has created its offsets topic, which is no news to an operator.
const quietJoinFailures = 5

// joinFailed logs the n-th failure in a row to join the group: at info while a retriable error
// is expected to pass, at warn after that or for any other error.
func (w *Worker) joinFailed(err error, n int) {
	var kerr kafka.Error
	ev := w.log.Warn()
	if errors.As(err, &kerr) && kerr.Temporary() && n <= quietJoinFailures {
		ev = w.log.Info()
	}
	ev.Err(err).Str("group", w.cfg.GroupID).Int("failures_in_a_row", n).Msg("joining the consumer group failed; kafka-go retries")
}
