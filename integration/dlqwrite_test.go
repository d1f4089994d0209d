//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/dlq"
)

// slowConn delays the first read after each write, so that every request to the broker is
// answered at least delay later: a broker slow to acknowledge.
type slowConn struct {
	net.Conn
	delay time.Duration
	wrote atomic.Bool
}

func (c *slowConn) Write(b []byte) (int, error) {
	c.wrote.Store(true)
	return c.Conn.Write(b)
}

func (c *slowConn) Read(b []byte) (int, error) {
	if c.wrote.Swap(false) {
		time.Sleep(c.delay) // the injected fault: the answer comes late
	}
	return c.Conn.Read(b)
}

// TestDeadLetterWriteTimeoutWritesNoDuplicate writes more dead letters in one Write than the
// broker acknowledges within dlq's WriteTimeout (each answer is slow, and a partition's
// batches are produced one after another): what was written before and after the timeout must
// not be written again. Every dead letter must be in the topic exactly once.
func TestDeadLetterWriteTimeoutWritesNoDuplicate(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 1)
	const n, delay = 2000, 150 * time.Millisecond // 20 batches of kafka-go's 100, 3 s at least
	cfg := dlq.Default(topic)
	cfg.WriteTimeout = time.Second
	var d net.Dialer
	w, err := dlq.NewWriter(brokers, cfg, dlq.WithLogger(zerolog.New(zerolog.NewTestWriter(t))),
		dlq.WithTransport(&kafka.Transport{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &slowConn{Conn: c, delay: delay}, nil
		}}))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	recs := make([]dlq.Record, n)
	now := time.Now()
	for i := range recs {
		recs[i] = dlq.Record{Key: fmt.Appendf(nil, "u-%d", i), Value: fmt.Appendf(nil, `{"n":%d}`, i),
			Origin: dlq.Origin{Topic: "origin", Offset: int64(i), Timestamp: now}, Reason: "invalid_json", Err: "x",
			FirstFailure: now, LastFailure: now}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	werr := w.Write(ctx, recs...)
	seen := map[string]int{}
	for _, m := range ReadAll(t, brokers, topic) {
		seen[string(m.Value)]++
	}
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	if werr != nil || len(seen) != n || dups != 0 {
		t.Fatalf("Write returned %v; the dead-letter topic holds %d distinct dead letters of %d, and %d duplicates; want all, once",
			werr, len(seen), n, dups)
	}
}

// TestDeadLettersOfLargeRecordsAreBatchedWithinTheTopicsLimit: dead letters of large records
// written together (records of 300 KB, whose events are far over the API's limit, come in
// groups from a fetch) must go in record batches the dead-letter topic takes (here a broker's
// default max.message.bytes, 1 MiB), not in one batch of all of them: a broker reads such a
// batch whole into memory before it refuses it (a local broker with 512 MiB ran out of direct
// memory on 53 MB ones), and the refusal is an error saying a dead letter is too large when
// none is. Every dead letter must be written at the first attempt, once.
func TestDeadLettersOfLargeRecordsAreBatchedWithinTheTopicsLimit(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 1)
	reg := prometheus.NewRegistry()
	w, err := dlq.NewWriter(brokers, dlq.Default(topic), dlq.WithRegisterer(reg),
		dlq.WithLogger(zerolog.New(zerolog.NewTestWriter(t))),
		// Its own transport: kafka-go's default one caches metadata across tests, and may not
		// yet know a topic created a moment ago (a failed attempt that is not this test's).
		dlq.WithTransport(&kafka.Transport{MetadataTTL: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const n, size = 12, 300_000
	recs := make([]dlq.Record, n)
	now := time.Now()
	for i := range recs {
		recs[i] = dlq.Record{Key: fmt.Appendf(nil, "u-%d", i), Value: bytes.Repeat([]byte{'a' + byte(i)}, size),
			Origin: dlq.Origin{Topic: "origin", Offset: int64(i), Timestamp: now}, Reason: "too_large", Err: "x",
			FirstFailure: now, LastFailure: now}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Write(ctx, recs...); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if got := len(ReadAll(t, brokers, topic)); got != n {
		t.Errorf("the dead-letter topic holds %d dead letters, want %d", got, n)
	}
	if f := counterValue(t, reg, "profile_ingest_dlq_write_failures_total"); f != 0 {
		t.Errorf("%v failed write attempts, want none: the dead letters were sent in a batch over the topic's max.message.bytes", f)
	}
}

// counterValue reads a counter without labels from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
