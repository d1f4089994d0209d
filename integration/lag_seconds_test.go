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

// TestConsumerLagSeconds: profile_ingest_consumer_lag_seconds is the age of the first
// uncommitted record. While the API refuses the credentials nothing is committed, and the age
// grows with the wall clock (never above the time since the records were written); once the API
// accepts them again the group commits to the end and the age is 0.
func TestConsumerLagSeconds(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 1)
	group := UniqueName(t, "g")
	s := mixedStream(200, 20, 0, 7)
	written := time.Now()
	Produce(t, brokers, topic, s.msgs...)
	hub, url := newInProcessHubsim(t, hubsim.Faults{AuthOutage: true})
	cfg := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(cfg, []byte("consumer: {lag_interval: 200ms}\nsender: {auth_retry_max: 1s}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	w := Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(brokers, topic, group, url, "--config", cfg, "--listen", listen)...)
	series := fmt.Sprintf(`profile_ingest_consumer_lag_seconds{partition="0",topic=%q}`, topic)

	var first float64
	Eventually(t, 2*time.Minute, "the first uncommitted record is at least a second old", func() bool {
		v, ok := metric(t, listen, series)
		first = v
		return ok && v >= 1
	})
	Eventually(t, 2*time.Minute, "its age grows while nothing is committed", func() bool {
		v, ok := metric(t, listen, series)
		if ok && v > time.Since(written).Seconds()+1 {
			t.Fatalf("lag_seconds %.1f is older than the records (written %.1f s ago)", v, time.Since(written).Seconds())
		}
		return ok && v >= first+2
	})
	hub.SetFaults(hubsim.Faults{})
	Eventually(t, 2*time.Minute, "the age is 0 once the group has committed to the end", func() bool {
		v, ok := metric(t, listen, series)
		n, ok2 := metric(t, listen, fmt.Sprintf(`profile_ingest_consumer_lag_records{partition="0",topic=%q}`, topic))
		return ok && ok2 && v == 0 && n == 0
	})
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(time.Minute); code != 0 {
		t.Fatalf("worker exited %d after SIGTERM, want 0", code)
	}
}
