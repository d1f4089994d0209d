//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestConsumerLagMetric: /metrics shows, per owned partition, how far the group's commits are
// behind the broker's log end: the whole backlog at first, then less as the worker delivers,
// and 0 once it has caught up.
func TestConsumerLagMetric(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 2)
	group := UniqueName(t, "g")
	s := mixedStream(3000, 50, 0, 11)
	Produce(t, brokers, topic, s.msgs...)
	_, url := newInProcessHubsim(t, hubsim.Faults{Latency: hubsim.Duration(50 * time.Millisecond), RejectDistinctID: s.rejectRE})
	cfg := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(cfg, []byte("consumer: {lag_interval: 200ms}\nbatch: {max_records: 50}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	w := Start(t, workerEnv, Binary(t, "profile-ingest"),
		workerArgs(brokers, topic, group, url, "--config", cfg, "--listen", listen, "--max-in-flight", "1")...)

	lag := func() (float64, bool) {
		var sum float64
		for p := range 2 {
			v, ok := metric(t, listen, fmt.Sprintf(`profile_ingest_consumer_lag_records{partition="%d",topic=%q}`, p, topic))
			if !ok {
				return 0, false
			}
			sum += v
		}
		return sum, true
	}
	var seen []float64
	Eventually(t, 2*time.Minute, "the lag of both partitions reaches 0", func() bool {
		v, ok := lag()
		if ok && (len(seen) == 0 || seen[len(seen)-1] != v) {
			seen = append(seen, v)
		}
		return ok && v == 0
	})
	if len(seen) < 3 || seen[0] <= seen[1] || seen[0] > float64(len(s.msgs)) {
		t.Errorf("lag readings %v: want a backlog of at most %d that shrinks to 0", seen, len(s.msgs))
	}
	t.Logf("lag readings: %v", seen)
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(time.Minute); code != 0 {
		t.Fatalf("worker exited %d after SIGTERM, want 0", code)
	}
}
