//go:build integration

package integration

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestWorkerDeliversMixedStreamUnderFaults is the "done when": a large topic with a
// sprinkling of bad messages, an API that fails, throttles, loses answers to applied requests
// and refuses some users, and a backfill run that must end with every good record applied once
// and every bad one dead-lettered with its reason, offsets committed to the end.
func TestWorkerDeliversMixedStreamUnderFaults(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 8)
	group := UniqueName(t, "g")
	s := mixedStream(n, 500, 500, 1)
	Produce(t, brokers, topic, s.msgs...)
	hs, url := newHubsim(t, hubsim.Faults{
		// Lost answers are drawn for every request but happen only to valid ones (about half:
		// the others are refused or faulted first): at 0.5% a run met 0-9 of them, and a run
		// with none failed below. 2% makes the fault certain to fire.
		ErrorRate: 0.03, ThrottleRate: 0.01, DropRate: 0.005, LostResponseRate: 0.02, RetryAfter: hubsim.Duration(time.Second),
		Latency: hubsim.Duration(2 * time.Millisecond), RejectDistinctID: s.rejectRE, Seed: 3,
	})

	bin := Binary(t, "profile-ingest")
	started := time.Now()
	w := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url, "--stop-at-end")...)
	if code := w.Wait(5 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d, want 0", code)
	}
	took := time.Since(started)
	if got := summaryDelivered(t, w.Output()); got < s.good {
		t.Errorf("summary says %d delivered, want at least %d", got, s.good)
	}
	verifyOutcome(t, hs, brokers, topic, group, s, true)
	t.Logf("hubsim: %+v", hs.Stats())
	if st := hs.Stats(); st.LostResponses == 0 || st.Duplicates == 0 {
		t.Errorf("hubsim lost %d answers and saw %d duplicates: the lost-answer fault did not fire, or its resends were not deduplicated", st.LostResponses, st.Duplicates)
	}
	if strings.Contains(w.Output(), testSecret) {
		t.Error("the workspace secret appears in the worker's output")
	}
	// At most 20 dead letters per reason are logged one by one in a minute: the bound follows
	// the minutes the run lasted (a window opens at the first dead letter), not a guess of them.
	reasons := map[string]bool{}
	for _, r := range s.wantDLQ {
		reasons[r] = true
	}
	limit := len(reasons) * 20 * (int(took/time.Minute) + 1)
	logged, summarised := deadLetterLogLines(t, w.Output())
	if logged+summarised != len(s.wantDLQ) || logged > min(limit, len(s.wantDLQ)) || (limit < len(s.wantDLQ) && summarised == 0) {
		t.Errorf("dead letters: %d logged one by one, %d in summary lines in %s; want all %d accounted for, at most %d (20 per reason a minute) one by one",
			logged, summarised, took.Round(time.Second), len(s.wantDLQ), limit)
	}
	t.Logf("%d records: %d applied, %d dead-lettered (%d refused by the API); hubsim %+v",
		n, s.good, len(s.wantDLQ), s.rejectCnt, hs.Stats())
}

// TestWorkerRestartAfterSIGTERMResendsNothing stops a worker mid-stream with SIGTERM: it must
// drain and commit, so that a second run sends only what the first did not.
func TestWorkerRestartAfterSIGTERMResendsNothing(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 6)
	group := UniqueName(t, "g")
	s := mixedStream(20_000, 200, 400, 2)
	Produce(t, brokers, topic, s.msgs...)
	hs, url := newInProcessHubsim(t, hubsim.Faults{Latency: hubsim.Duration(30 * time.Millisecond), RejectDistinctID: s.rejectRE})
	bin := Binary(t, "profile-ingest")

	// The drain resolves what is in flight, so the in-flight bound must leave records unfetched
	// at the SIGTERM for the restart to have work; by default a fast worker holds all 20,000.
	cfg := writeFile(t, "bounded.yaml", "consumer:\n  max_in_flight_records: 2000\n")
	first := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url, "--max-in-flight", "2", "--config", cfg)...)
	Eventually(t, 2*time.Minute, "the first worker applied 4000 events", func() bool { return hs.Stats().EventsApplied >= 4000 })
	first.Signal(syscall.SIGTERM)
	if code := first.Wait(time.Minute); code != 0 {
		t.Fatalf("SIGTERM: worker exited %d, want 0 (a clean drain)", code)
	}
	applied := hs.Stats().EventsApplied
	if applied >= int64(s.good) {
		t.Fatalf("the first worker finished everything (%d) before SIGTERM; the test proves nothing", applied)
	}

	second := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url, "--stop-at-end")...)
	if code := second.Wait(3 * time.Minute); code != 0 {
		t.Fatalf("restarted backfill exited %d, want 0", code)
	}
	verifyOutcome(t, hs, brokers, topic, group, s, false)
	t.Logf("SIGTERM after %d of %d applied; restart sent the rest with %d duplicates", applied, s.good, hs.Stats().Duplicates)
}

// TestSecondWorkerJoiningChangesNothing starts a second member of the group mid-stream: the
// rebalance must drain and commit, and the outcome must be what one worker alone produces.
func TestSecondWorkerJoiningChangesNothing(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 8)
	group := UniqueName(t, "g")
	s := mixedStream(20_000, 200, 400, 3)
	Produce(t, brokers, topic, s.msgs...)
	hs, url := newInProcessHubsim(t, hubsim.Faults{Latency: hubsim.Duration(20 * time.Millisecond), RejectDistinctID: s.rejectRE})
	bin := Binary(t, "profile-ingest")

	a := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url, "--max-in-flight", "2")...)
	Eventually(t, 2*time.Minute, "the first worker applied 3000 events", func() bool { return hs.Stats().EventsApplied >= 3000 })
	b := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url, "--max-in-flight", "2")...)
	Eventually(t, 3*time.Minute, "every good record applied", func() bool { return hs.Stats().EventsApplied >= int64(s.good) })
	// Let the last commits land, then stop both.
	Eventually(t, time.Minute, "offsets committed to the end", func() bool { return committedToEnd(t, brokers, group, topic) })
	stopAll(t, time.Minute, a, b)
	if !strings.Contains(b.Output(), "generation started") {
		t.Errorf("the second worker never got partitions")
	}
	verifyOutcome(t, hs, brokers, topic, group, s, false)
}

// deadLetterLogLines counts the worker's "record dead-lettered" log lines and the records its
// summary lines say were not logged one by one.
func deadLetterLogLines(t *testing.T, out string) (logged, summarised int) {
	t.Helper()
	for _, l := range jsonLines(t, out) {
		msg, _ := l["message"].(string)
		switch {
		case msg == "record dead-lettered":
			logged++
		case strings.Contains(msg, "were not logged one by one"):
			n, _ := l["records"].(float64)
			summarised += int(n)
		}
	}
	return logged, summarised
}
