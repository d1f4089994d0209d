//go:build integration

package integration

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestBackpressureBoundsInFlight: with a slow API and a large backlog, the records fetched and
// not yet resolved never exceed the configured bound (here set by a config file), so memory
// does not grow with the backlog.
func TestBackpressureBoundsInFlight(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 4)
	group := UniqueName(t, "g")
	s := mixedStream(20_000, 400, 0, 10)
	Produce(t, brokers, topic, s.msgs...)
	hub, url := newHubsim(t, hubsim.Faults{Latency: hubsim.Duration(100 * time.Millisecond), RejectDistinctID: s.rejectRE})
	cfg := filepath.Join(t.TempDir(), "worker.yaml")
	const bound = 1000
	if err := os.WriteFile(cfg, []byte("consumer:\n  max_in_flight_records: "+strconv.Itoa(bound)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	w := Start(t, workerEnv, Binary(t, "profile-ingest"),
		workerArgs(brokers, topic, group, url, "--config", cfg, "--listen", listen, "--stop-at-end")...)

	peak := 0.0
	secretSeen := false
	for !w.Exited() {
		if body, ok := metricsText(listen); ok && strings.Contains(body, testSecret) {
			secretSeen = true
		}
		if v, ok := metric(t, listen, "profile_ingest_records_in_flight"); ok && v > peak {
			peak = v
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := w.Wait(time.Second); code != 0 {
		t.Fatalf("backfill exited %d, want 0", code)
	}
	if secretSeen || strings.Contains(w.Output(), testSecret) {
		t.Error("the workspace secret appears in /metrics or the worker's output")
	}
	if peak > bound {
		t.Errorf("%.0f records in flight at the peak, over the bound of %d", peak, bound)
	}
	if peak < bound/2 {
		t.Errorf("peak in flight %.0f: the backlog never pressed against the bound of %d; the test proves nothing", peak, bound)
	}
	verifyOutcome(t, hub, brokers, topic, group, s, false)
}

// TestDrainTimeoutExitsFourAndCommitsOnlyResolved: when the API is too slow for the shutdown
// deadline, the worker exits 4 and commits nothing past what the API accepted.
func TestDrainTimeoutExitsFourAndCommitsOnlyResolved(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 1)
	group := UniqueName(t, "g")
	s := mixedStream(2_000, 20, 0, 11)
	Produce(t, brokers, topic, s.msgs...)
	hub, url := newHubsim(t, hubsim.Faults{Latency: hubsim.Duration(5 * time.Second)})
	w := Start(t, workerEnv, Binary(t, "profile-ingest"),
		workerArgs(brokers, topic, group, url, "--drain-timeout", "1s", "--max-in-flight", "1")...)
	Eventually(t, time.Minute, "a request in flight", func() bool { return hub.Stats().Requests > 0 })
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(30 * time.Second); code != 4 {
		t.Fatalf("exit code %d, want 4 (drain timed out)", code)
	}
	applied := hub.Stats().EventsApplied
	committed := CommittedOffsets(t, brokers, group, topic)[0]
	if committed > applied {
		t.Fatalf("committed offset %d, but only %d records were accepted", committed, applied)
	}
	if !strings.Contains(w.Output(), "drain timed out") {
		t.Errorf("the worker did not say why it exited 4")
	}
}

// metricsText returns a worker's /metrics page.
func metricsText(addr string) (string, bool) {
	code, body := httpGet(addr, "/metrics")
	return body, code == http.StatusOK
}

// metric reads one metric from a worker's /metrics: name is the series as printed, labels
// included.
func metric(t *testing.T, addr, name string) (float64, bool) {
	body, ok := metricsText(addr)
	if !ok {
		return 0, false
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// httpGet returns the status and body of GET http://addr/path; status 0 when it failed.
func httpGet(addr, path string) (int, string) {
	res, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
