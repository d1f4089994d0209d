//go:build integration

package integration

import (
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestWaitsForAnUnreachableBroker starts the worker while its broker is down, as in a Kafka
// rolling restart: the worker must stay up, alive for /healthz, serving /metrics, not ready for
// /readyz (saying why), and deliver the topic once the broker is back, instead of exiting and
// crash-looping. It needs a broker of its own (deploy/kafka/kafka.sh on
// PROFILE_INGEST_RESTART_PORT), whose data outlives a stop.
func TestWaitsForAnUnreachableBroker(t *testing.T) {
	own := StartOwnBroker(t)
	brokers := own.Brokers()
	topic := NewTopic(t, brokers, 4)
	group := UniqueName(t, "g")
	s := mixedStream(3_000, 50, 200, 41)
	Produce(t, brokers, topic, s.msgs...)
	own.Sh("down")
	if c, err := net.DialTimeout("tcp", brokers[0], time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still answers after kafka.sh down", brokers[0])
	}

	hub, url := newHubsim(t, hubsim.Faults{RejectDistinctID: s.rejectRE})
	listen := freeAddr(t)
	w := Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(brokers, topic, group, url, "--listen", listen)...)
	Eventually(t, time.Minute, "/readyz says the broker is not reachable", func() bool {
		if w.Exited() {
			t.Fatalf("the worker exited while its broker was down, instead of waiting for it:\n%s", w.Output())
		}
		code, body := httpGet(listen, "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "not reachable") && strings.Contains(body, "connection refused")
	})
	// Still waiting after a few tries: alive, its metrics served.
	Eventually(t, time.Minute, "three failed tries logged", func() bool {
		return strings.Count(w.Output(), "kafka not reachable; retrying") >= 3 || w.Exited()
	})
	if w.Exited() {
		t.Fatalf("the worker exited while its broker was down:\n%s", w.Output())
	}
	if code, body := httpGet(listen, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while the broker is down: %d %q, want 200", code, body)
	}
	if code, body := httpGet(listen, "/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics while the broker is down: %d, want 200 with metrics", code)
	}

	own.Sh("up")
	Eventually(t, 3*time.Minute, "the topic committed to its end", func() bool {
		end, committed := EndOffsets(t, brokers, topic), CommittedOffsets(t, brokers, group, topic)
		for p, e := range end {
			if committed[p] != e {
				return false
			}
		}
		return true
	})
	if code, body := httpGet(listen, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz once the broker is back: %d %q, want 200", code, body)
	}
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(time.Minute); code != 0 {
		t.Fatalf("worker exited %d, want 0", code)
	}
	verifyOutcome(t, hub, brokers, topic, group, s, false)
}
