// Package publish writes profile mutations to a Kafka topic for profile-ingest to send to
// SuprSend, keyed by distinct_id so that one user's changes stay in order. A Publisher is safe
// for concurrent use; Close it once, after the last Publish.
//
// Records are partitioned like the Java client's default partitioner (murmur2 of the key), so
// publishers written in other languages send a user's changes to the same partition.
package publish

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/profile"
)

// Config configures a Publisher. Brokers and Topic are required.
type Config struct {
	// Brokers are the bootstrap addresses, "host:port". Required.
	Brokers []string
	// Topic is the profile-mutation topic profile-ingest reads. Required.
	Topic string
	// RequiredAcks is how many replicas must have a record before Publish returns.
	// Default: kafka.RequireAll.
	RequiredAcks kafka.RequiredAcks
	// BatchTimeout is how long the writer waits to fill a batch before sending it; Publish
	// waits at least this long when it sends fewer records than BatchSize. Default: 10ms.
	BatchTimeout time.Duration
	// WriteTimeout bounds one write to a broker. Default: 10s.
	WriteTimeout time.Duration
	// MaxAttempts is how many times a failed write is tried. Default: 10.
	MaxAttempts int
	// BatchSize is the most records sent to one partition in one request; a request also stays
	// under 1 MiB, a broker's default limit. Raise it with PublishRaw of many records at once
	// (a backfill): fewer round trips. Default: 100.
	BatchSize int
	// Transport carries the connection settings (TLS, SASL) of a secured cluster, e.g. a
	// *kafka.Transport with SASL and TLS set. Default: kafka.DefaultTransport.
	Transport kafka.RoundTripper
}

// Default returns c with its zero fields set to their defaults.
func (c Config) Default() Config {
	if c.RequiredAcks == 0 {
		c.RequiredAcks = kafka.RequireAll
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = 10 * time.Millisecond
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 10
	}
	if c.BatchSize == 0 {
		c.BatchSize = 100
	}
	return c
}

// Validate names the first unusable field of c (after Default).
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("publish: Config.Brokers is empty")
	case c.Topic == "":
		return errors.New("publish: Config.Topic is empty")
	case c.RequiredAcks != kafka.RequireAll && c.RequiredAcks != kafka.RequireOne && c.RequiredAcks != kafka.RequireNone:
		return fmt.Errorf("publish: Config.RequiredAcks %d is not -1, 0 or 1", c.RequiredAcks)
	case c.BatchTimeout < 0:
		return fmt.Errorf("publish: Config.BatchTimeout %s is negative", c.BatchTimeout)
	case c.WriteTimeout < 0:
		return fmt.Errorf("publish: Config.WriteTimeout %s is negative", c.WriteTimeout)
	case c.MaxAttempts < 0:
		return fmt.Errorf("publish: Config.MaxAttempts %d is negative", c.MaxAttempts)
	case c.BatchSize < 0:
		return fmt.Errorf("publish: Config.BatchSize %d is negative", c.BatchSize)
	}
	for i, b := range c.Brokers {
		if b == "" {
			return fmt.Errorf("publish: Config.Brokers[%d] is empty", i)
		}
	}
	return nil
}

// MessageWriter is the part of *kafka.Writer a Publisher uses.
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
	Close() error
}

var _ MessageWriter = (*kafka.Writer)(nil)

// Option configures a Publisher beyond its Config.
type Option func(*Publisher)

// WithMessageWriter makes the Publisher write through w instead of a kafka.Writer built from
// the Config (Brokers and Topic are then not used; w must know its topic).
func WithMessageWriter(w MessageWriter) Option { return func(p *Publisher) { p.w = w } }

// WithEventIDs sets the function that gives a mutation without an event_id its idempotency
// key. Default: a random UUID (version 4).
func WithEventIDs(newID func() string) Option { return func(p *Publisher) { p.newID = newID } }

// Publisher writes mutations to the profile-mutation topic.
type Publisher struct {
	w     MessageWriter
	newID func() string
}

// New returns a Publisher for cfg (defaults applied).
func New(cfg Config, opts ...Option) (*Publisher, error) {
	p := &Publisher{newID: func() string { return uuid.NewString() }}
	for _, o := range opts {
		o(p)
	}
	if p.w == nil {
		cfg = cfg.Default()
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		p.w = &kafka.Writer{
			Addr:                   kafka.TCP(cfg.Brokers...),
			Topic:                  cfg.Topic,
			Balancer:               &kafka.Murmur2Balancer{},
			RequiredAcks:           cfg.RequiredAcks,
			BatchTimeout:           cfg.BatchTimeout,
			WriteTimeout:           cfg.WriteTimeout,
			MaxAttempts:            cfg.MaxAttempts,
			BatchSize:              cfg.BatchSize,
			Transport:              cfg.Transport,
			AllowAutoTopicCreation: false,
		}
	}
	return p, nil
}

// MutationError is a mutation Publish refused before writing anything.
type MutationError struct {
	Index int            // position in Publish's arguments
	Err   *profile.Error // the first problem of the mutation
}

func (e *MutationError) Error() string {
	return fmt.Sprintf("publish: mutation %d: %v", e.Index, e.Err)
}

func (e *MutationError) Unwrap() error { return e.Err }

// Messages returns the Kafka records for ms: keyed by the trimmed distinct_id, the value the
// v1 message. A mutation without an event_id gets one, so that a record the writer sends twice
// (a retry after a lost acknowledgement) is still applied once. It writes nothing and fails
// with a *MutationError if any mutation is invalid.
func (p *Publisher) Messages(ms ...*profile.Mutation) ([]kafka.Message, error) {
	msgs := make([]kafka.Message, len(ms))
	for i, m := range ms {
		if m == nil {
			return nil, &MutationError{Index: i, Err: &profile.Error{Reason: profile.ReasonInvalidMessage, Msg: "nil mutation"}}
		}
		id := ""
		if m.EventID() == "" {
			id = p.newID()
		}
		value, err := m.AppendJSON(nil, id)
		if err != nil {
			var pe *profile.Error
			if !errors.As(err, &pe) {
				pe = &profile.Error{Reason: profile.ReasonInvalidMessage, Msg: err.Error()}
			}
			return nil, &MutationError{Index: i, Err: pe}
		}
		msgs[i] = kafka.Message{Key: []byte(m.DistinctID()), Value: value}
	}
	return msgs, nil
}

// Publish validates every mutation, then writes them in one call, in order, and returns when
// the brokers have them (see Config.RequiredAcks). If a mutation is invalid nothing is
// written and the error is a *MutationError. A write failure is returned as the writer's
// error (kafka.WriteErrors lines up with ms when some records failed).
func (p *Publisher) Publish(ctx context.Context, ms ...*profile.Mutation) error {
	if len(ms) == 0 {
		return nil
	}
	msgs, err := p.Messages(ms...)
	if err != nil {
		return err
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("publish: write %d mutations: %w", len(msgs), err)
	}
	return nil
}

// PublishRaw writes records whose values are already encoded (v1 messages or identity events,
// as replayed from a file), in one call and in order. Each record's key should be its
// distinct_id; PublishRaw does not look inside the values: check them with a profile.Decoder first.
func (p *Publisher) PublishRaw(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("publish: write %d records: %w", len(msgs), err)
	}
	return nil
}

// Close flushes and closes the writer.
func (p *Publisher) Close() error { return p.w.Close() }
