package dlq

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// Config configures a Writer.
type Config struct {
	// Topic is the dead-letter topic. Required.
	Topic string
	// WriteTimeout bounds each produce request of a write (kafka-go's WriteTimeout and
	// ReadTimeout): a request not acknowledged by then fails, and only its records are written
	// again. A write as a whole is not cut short by it: a write abandoned while its requests
	// are in flight would not know which records they wrote, and writing them all again would
	// duplicate dead letters. Default: 10s.
	WriteTimeout time.Duration
	// RetryInitial is the first wait after a failed write. Default: 200ms.
	RetryInitial time.Duration
	// RetryMax caps one wait between writes; writes are retried until the context ends. It is
	// short because offsets wait on these writes and a retry costs the broker little. Default: 2s.
	RetryMax time.Duration
	// MaxBatchBytes bounds the dead letters of one record batch (one produce request carries
	// one batch per partition): the dead-letter topic's max.message.bytes. A broker refuses a
	// larger batch only after reading it whole into memory, so dead letters of large records
	// must not be gathered beyond it. A dead letter larger than it is written alone (and, if
	// the topic refuses it, waits for the topic's limit to be raised). Default: 1 MiB, a
	// broker's default max.message.bytes.
	MaxBatchBytes int
}

// Default returns the defaults for topic.
func Default(topic string) Config {
	return Config{Topic: topic, WriteTimeout: 10 * time.Second, RetryInitial: 200 * time.Millisecond, RetryMax: 2 * time.Second,
		MaxBatchBytes: 1 << 20}
}

// Validate names the first field that is wrong.
func (c Config) Validate() error {
	switch {
	case strings.TrimSpace(c.Topic) == "":
		return errors.New("dlq: Topic is empty")
	case c.WriteTimeout <= 0:
		return fmt.Errorf("dlq: WriteTimeout %s must be positive", c.WriteTimeout)
	case c.RetryInitial <= 0:
		return fmt.Errorf("dlq: RetryInitial %s must be positive", c.RetryInitial)
	case c.RetryMax < c.RetryInitial:
		return fmt.Errorf("dlq: RetryMax %s must be at least RetryInitial %s", c.RetryMax, c.RetryInitial)
	case c.MaxBatchBytes < 1:
		return fmt.Errorf("dlq: MaxBatchBytes %d must be positive", c.MaxBatchBytes)
	}
	return nil
}

// Writer writes dead-letter records and waits until every in-sync replica has them. It is safe
// for concurrent use.
type Writer struct {
	cfg     Config
	w       *kafka.Writer // batches of at most cfg.MaxBatchBytes
	one     *kafka.Writer // one dead letter a request, however large: the broker's limit decides
	log     zerolog.Logger
	version string
	host    string
	secrets []string
	m       *metrics

	mu          sync.Mutex
	failingFrom time.Time // the first failure of the write still retrying; zero when none
	lastErr     error
}

// Option sets an optional collaborator of a Writer.
type Option func(*Writer)

// WithLogger sets the logger. Default: none.
func WithLogger(l zerolog.Logger) Option { return func(w *Writer) { w.log = l } }

// WithRegisterer registers the writer's metrics. Default: none.
func WithRegisterer(r prometheus.Registerer) Option {
	return func(w *Writer) { w.m = newMetrics(r) }
}

// WithWorkerVersion sets the worker version written in HeaderWorkerVersion.
func WithWorkerVersion(v string) Option { return func(w *Writer) { w.version = v } }

// WithRedact names secrets that must never reach a dead-letter header: any occurrence in an
// error text is replaced by "[REDACTED]".
func WithRedact(secrets ...string) Option {
	return func(w *Writer) {
		for _, s := range secrets {
			if s != "" {
				w.secrets = append(w.secrets, s)
			}
		}
	}
}

// WithTransport sets the kafka-go transport (TLS, SASL). Default: kafka.DefaultTransport.
func WithTransport(t kafka.RoundTripper) Option {
	return func(w *Writer) { w.w.Transport, w.one.Transport = t, t }
}

// NewWriter returns a Writer producing to cfg.Topic on brokers.
func NewWriter(brokers []string, cfg Config, opts ...Option) (*Writer, error) {
	if len(brokers) == 0 {
		return nil, errors.New("dlq: no brokers")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	producer := func(batchSize int, batchBytes int64) *kafka.Writer {
		return &kafka.Writer{
			Addr:         kafka.TCP(brokers...),
			Topic:        cfg.Topic,
			Balancer:     &kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll,
			MaxAttempts:  1, // Write retries, with its own backoff and logging
			BatchTimeout: time.Millisecond,
			BatchSize:    batchSize,
			BatchBytes:   batchBytes,
			WriteTimeout: cfg.WriteTimeout,
			ReadTimeout:  cfg.WriteTimeout,
		}
	}
	w := &Writer{
		cfg:  cfg,
		log:  zerolog.Nop(),
		host: host,
		m:    newMetrics(nil),
		w:    producer(100, int64(cfg.MaxBatchBytes)), // kafka-go's default batch size
		one:  producer(1, maxRecordBytes),
	}
	for _, o := range opts {
		o(w)
	}
	return w, nil
}

// maxRecordBytes is the most a dead letter written alone may be for kafka-go; the broker's
// max.message.bytes of the dead-letter topic is what decides.
const maxRecordBytes = 1 << 30

// SetMaxBatchBytes sets Config.MaxBatchBytes once the dead-letter topic's max.message.bytes is
// known. It must be called before the first Write.
func (w *Writer) SetMaxBatchBytes(n int) {
	if n > 0 {
		w.cfg.MaxBatchBytes, w.w.BatchBytes = n, int64(n)
	}
}

// Write dead-letters recs and returns once every in-sync replica acknowledged them. A failed
// write is retried with backoff, only for the records not acknowledged, until it succeeds or
// ctx ends; then the last error is returned, joined with the context's, and the caller must not
// commit past these records (whose dead letters may or may not have been written).
func (w *Writer) Write(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = r.Message(w.version, w.host, w.errorText(r.Err))
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = w.cfg.RetryInitial
	b.MaxInterval = w.cfg.RetryMax
	b.MaxElapsedTime = 0 // until ctx ends: dropping a dead letter is not an option
	var last error
	pending := msgs
	oneByOne := false
	err := backoff.RetryNotify(func() error {
		// Under ctx alone: WriteMessages then waits for every produce request (each bounded by
		// WriteTimeout) and says which records failed, so that only those are written again.
		if oneByOne {
			pending, last = w.writeEach(ctx, pending)
		} else {
			last = w.w.WriteMessages(ctx, pending...)
			pending = failedOf(pending, last)
		}
		// The broker refuses a record batch over the topic's max.message.bytes (and kafka-go
		// one over MaxBatchBytes): write the rest one by one, each alone in its request, so
		// that only a dead letter that is itself too large waits, and goes through as soon as
		// the topic's limit is raised.
		if tooLarge(last) {
			oneByOne = true
		}
		if last != nil && ctx.Err() != nil {
			return backoff.Permanent(last)
		}
		return last
	}, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		w.m.failures.Inc()
		w.failing(err)
		ev := w.log.Error().Err(err).Str("topic", w.cfg.Topic).Int("records", len(recs)).Dur("retry_in", wait)
		if tooLarge(err) {
			ev.Int("largest_bytes", largest(pending)).
				Msg("a dead letter is larger than the dead-letter topic takes; holding offsets and retrying until the topic's max.message.bytes is raised")
			return
		}
		ev.Msg("dead-letter write failed; holding offsets and retrying")
	})
	if err != nil {
		return fmt.Errorf("dlq: write %d records to %s: %w", len(recs), w.cfg.Topic, errors.Join(last, ctx.Err()))
	}
	w.failing(nil)
	for _, r := range recs {
		w.m.records.WithLabelValues(r.Reason).Inc()
	}
	return nil
}

// Ready reports an error while a dead-letter write keeps failing: the worker holds the offsets
// of its records and, at the in-flight bound, stops consuming until the write goes through.
func (w *Writer) Ready() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failingFrom.IsZero() {
		return nil
	}
	return fmt.Errorf("dlq: dead letters not written to %s since %s: %v", w.cfg.Topic,
		w.failingFrom.UTC().Format(time.RFC3339), w.lastErr)
}

// failing records the outcome of a write, err or nil for success, for Ready and the
// dlq_unavailable gauge.
func (w *Writer) failing(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.m.unavailable.Set(0)
		w.failingFrom, w.lastErr = time.Time{}, nil
		return
	}
	w.m.unavailable.Set(1)
	if w.failingFrom.IsZero() {
		w.failingFrom = time.Now()
	}
	w.lastErr = err
}

// failedOf returns the messages of pending that err says were not written: a write to several
// partitions can succeed in part, and writing the rest again would dead-letter records twice.
func failedOf(pending []kafka.Message, err error) []kafka.Message {
	var partial kafka.WriteErrors
	if !errors.As(err, &partial) || len(partial) != len(pending) {
		return pending
	}
	failed := pending[:0:0]
	for i, e := range partial {
		if e != nil {
			failed = append(failed, pending[i])
		}
	}
	return failed
}

// writeEach writes msgs one at a time and returns those that failed, with their errors.
func (w *Writer) writeEach(ctx context.Context, msgs []kafka.Message) ([]kafka.Message, error) {
	var failed []kafka.Message
	var errs []error
	for _, m := range msgs {
		if err := w.one.WriteMessages(ctx, m); err != nil {
			failed, errs = append(failed, m), append(errs, err)
		}
	}
	return failed, errors.Join(errs...)
}

// tooLarge reports whether err says a record or batch is over a size limit.
func tooLarge(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		return slices.ContainsFunc(we, tooLarge)
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return slices.ContainsFunc(joined.Unwrap(), tooLarge)
	}
	var mtl kafka.MessageTooLargeError
	return errors.Is(err, kafka.MessageSizeTooLarge) || errors.Is(err, kafka.RecordListTooLarge) || errors.As(err, &mtl)
}

// largest returns the size of the largest of msgs, key, value and headers.
func largest(msgs []kafka.Message) int {
	n := 0
	for _, m := range msgs {
		size := len(m.Key) + len(m.Value)
		for _, h := range m.Headers {
			size += len(h.Key) + len(h.Value)
		}
		n = max(n, size)
	}
	return n
}

// Close flushes and closes the producer.
func (w *Writer) Close() error { return errors.Join(w.w.Close(), w.one.Close()) }

// errorText bounds an error text and removes every secret from it.
func (w *Writer) errorText(s string) string {
	for _, secret := range w.secrets {
		s = strings.ReplaceAll(s, secret, "[REDACTED]")
	}
	if len(s) > MaxErrorBytes {
		s = s[:MaxErrorBytes-len("…")] + "…"
	}
	return s
}

type metrics struct {
	records     *prometheus.CounterVec
	failures    prometheus.Counter
	unavailable prometheus.Gauge
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "profile_ingest_dlq_records_total", Help: "Records written to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "profile_ingest_dlq_write_failures_total", Help: "Failed attempts to write to the dead-letter topic.",
		}),
		unavailable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "profile_ingest_dlq_unavailable", Help: "1 while writes to the dead-letter topic are failing.",
		}),
	}
	if r != nil {
		r.MustRegister(m.records, m.failures, m.unavailable)
	}
	return m
}
