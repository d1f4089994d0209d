package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/config"
	"github.com/profile-ingest/profile-ingest/internal/kafkautil"
)

// kafkaStartup is the worker's first contact with the cluster, as /readyz reports it: why the
// cluster is not reached yet, or nil once it was. It is read by the HTTP server's goroutines.
type kafkaStartup struct{ why atomic.Pointer[error] }

func newKafkaStartup() *kafkaStartup {
	s := &kafkaStartup{}
	s.set(errors.New("kafka: not reached yet"))
	return s
}

func (s *kafkaStartup) set(err error) { s.why.Store(&err) }

// Ready is a /readyz check.
func (s *kafkaStartup) Ready() error { return *s.why.Load() }

// connectKafka checks the dead-letter topic (ensureDLQTopic), waiting out a cluster that cannot
// be reached yet, as during a rolling restart: each failure is logged and shown by /readyz, and
// the next try comes after a backoff (500 ms to 30 s). A refusal that waiting cannot change (a
// failed authentication or TLS verification, a missing authorization or topic) is returned. It
// returns ctx's error when ctx ends first, and else the dead-letter topic's max.message.bytes
// (0 when it could not be read).
func connectKafka(ctx context.Context, cfg config.Config, transport *kafka.Transport, log zerolog.Logger, s *kafkaStartup) (int, error) {
	brokers := strings.Join(cfg.Kafka.Brokers, ",")
	dlqMaxBytes := 0
	err := kafkautil.UntilReachable(ctx, func(ctx context.Context) error {
		var err error
		dlqMaxBytes, err = ensureDLQTopic(ctx, cfg, transport, log)
		return err
	}, func(err error, next time.Duration) {
		s.set(fmt.Errorf("kafka %s not reachable, retrying: %w", brokers, err))
		log.Warn().Err(err).Str("brokers", brokers).Dur("retry_in", next).
			Msg("kafka not reachable; retrying (a broker restarting, or a wrong kafka.brokers)")
	})
	if err == nil {
		s.set(nil)
	}
	return dlqMaxBytes, err
}
