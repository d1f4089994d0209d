//go:build integration

package integration

import (
	"syscall"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestCleanRunsLogNoWarning: a backfill that reaches its end, and a worker stopped by SIGTERM
// while idle, log no warning and no error: a fetch waiting on an idle partition is no fault,
// and a stop is logged as a stop.
func TestCleanRunsLogNoWarning(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 8)
	s := mixedStream(2_000, 50, 0, 31)
	Produce(t, brokers, topic, s.msgs...)
	hub, url := newInProcessHubsim(t, hubsim.Faults{})
	bin := Binary(t, "profile-ingest")

	backfill := Start(t, workerEnv, bin, workerArgs(brokers, topic, UniqueName(t, "g"), url, "--stop-at-end")...)
	if code := backfill.Wait(2 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d, want 0", code)
	}
	noWarnings(t, "the backfill", backfill.Output())

	group := UniqueName(t, "g")
	idle := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url)...)
	Eventually(t, 2*time.Minute, "the second group committed to the end", func() bool {
		end, committed := EndOffsets(t, brokers, topic), CommittedOffsets(t, brokers, group, topic)
		for p, e := range end {
			if committed[p] != e {
				return false
			}
		}
		return true
	})
	time.Sleep(3 * time.Second) // idle fetches come and go meanwhile
	idle.Signal(syscall.SIGTERM)
	if code := idle.Wait(time.Minute); code != 0 {
		t.Fatalf("SIGTERM: exited %d, want 0", code)
	}
	noWarnings(t, "the worker stopped by SIGTERM", idle.Output())
	if got := hub.Stats().EventsApplied; got != int64(len(s.msgs)) { // no user is refused here
		t.Errorf("applied %d events, want %d", got, len(s.msgs))
	}
}

// noWarnings fails t for every warn or error line of a worker's JSON log.
func noWarnings(t *testing.T, who string, out string) {
	t.Helper()
	for _, l := range jsonLines(t, out) {
		if l["level"] == "warn" || l["level"] == "error" {
			t.Errorf("%s logged at %s: %v", who, l["level"], l)
		}
	}
}
