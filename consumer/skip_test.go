package consumer

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/batcher"
	"github.com/profile-ingest/profile-ingest/internal/buildinfo"
	"github.com/profile-ingest/profile-ingest/profile"
)

// A record the decoder skips (a Debezium tombstone, a Segment track call) is committed past
// once the records before it resolve, never sent nor dead-lettered; the decoder sees the key.
func TestPipelineCommitsPastSkippedRecords(t *testing.T) {
	dec, err := profile.NewDecoder(profile.Options{WorkspaceKey: "k", UserAgent: buildinfo.UserAgent()})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	decode := func(_, v []byte, o profile.Origin) (profile.Event, error) {
		keys = append(keys, string(o.Key))
		if len(v) == 0 {
			return profile.Event{}, &profile.Skip{Reason: "tombstone"}
		}
		return dec.Decode(v, o)
	}
	cfg := Default()
	cfg.Brokers, cfg.Topics, cfg.GroupID = []string{"127.0.0.1:1"}, []string{"t"}, "g"
	disp, dead := &fakeDispatch{}, &fakeDead{}
	w, err := New(cfg, decode, batcher.Config{MaxRecords: 400, MaxBytes: 819200, Linger: time.Second}, disp, dead,
		WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	c := &commits{}
	p := w.newPipeline(t.Context(), c.commit, nil)
	p.assign(tp0, kafka.FirstOffset)
	go p.deadLetterLoop()
	t.Cleanup(func() { close(p.dlqIn) })

	p.takeDecoded(record(0, goodA))
	p.takeDecoded(record(1, ""))
	p.commit(false)
	if got := c.at(tp0); got > 0 {
		t.Fatalf("committed %d while offset 0 is in flight", got)
	}
	p.flushAll(batcher.FlushShutdown, time.Time{})
	submitQueued(p)
	disp.resolve(0, delivered)
	drainAcks(p, 0)
	p.commit(false)
	if got := c.at(tp0); got != 2 {
		t.Fatalf("committed %d, want 2 (past the skipped record)", got)
	}
	if s := w.Stats(); s.Skipped != 1 || s.Delivered != 1 || len(dead.written) != 0 {
		t.Fatalf("stats %+v, dead letters %d", s, len(dead.written))
	}
	if n := testutil.ToFloat64(w.m.skipped.WithLabelValues("tombstone")); n != 1 {
		t.Fatalf("profile_ingest_records_skipped_total{reason=tombstone} = %v, want 1", n)
	}
	if len(keys) != 2 || keys[1] != "u" {
		t.Fatalf("the decoder saw keys %q", keys)
	}
}
