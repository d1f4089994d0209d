//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestManyDecodeWorkersKeepPerUserOrder: sixteen decode goroutines on a machine with fewer
// cores (consumer.decode_workers), so that the batches of one partition finish decoding out of
// order, over a backlog of few users with many records each, dead letters among them. Every
// user's records are applied once and in order, every bad record is dead-lettered, and the
// group commits to the end: the pipeline takes the batches in the order they were fetched.
func TestManyDecodeWorkersKeepPerUserOrder(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 4)
	group := UniqueName(t, "g")
	s := mixedStream(8000, 40, 97, 53)
	Produce(t, brokers, topic, s.msgs...)
	hs, url := newHubsim(t, hubsim.Faults{RejectDistinctID: s.rejectRE})
	cfg := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(cfg, []byte("consumer:\n  decode_workers: 16\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(brokers, topic, group, url, "--config", cfg, "--stop-at-end")...)
	if code := w.Wait(3 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d, want 0\n%s", code, lastLines(w.Output(), 20))
	}
	verifyOutcome(t, hs, brokers, topic, group, s, false)
	t.Logf("%d records, %d users over 4 partitions, 16 decode workers", len(s.msgs), len(s.perUser))
}
