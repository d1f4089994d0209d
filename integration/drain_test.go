//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/dlq"
	"github.com/profile-ingest/profile-ingest/hubsim"
)

// drainTimeout is the drain deadline of the workers of these tests; waitBound is how long a test
// waits for a worker to end after a SIGTERM or a revoke: the drain deadline plus a generous
// margin for a loaded machine (closing the fetchers, the final commit). A worker that does not
// watch shutdown while the API refuses everything never ends within it.
const (
	drainTimeout = 3 * time.Second
	waitBound    = drainTimeout + 40*time.Second
)

// TestSIGTERMDuringAPIOutageEndsWithinDrainTimeout stops a worker while the API refuses every
// request, with 401 (credentials revoked) and with 503: the worker must exit 4 once the drain
// deadline passes instead of waiting on the API, keep committing what was resolved while chunks
// wait, commit exactly the records resolved before the outage, and a second run must deliver
// the rest.
func TestSIGTERMDuringAPIOutageEndsWithinDrainTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		outage hubsim.Faults
		cause  string
	}{
		{"401", hubsim.Faults{AuthOutage: true}, "fault_auth_outage"},
		{"503", hubsim.Faults{ErrorRate: 1, ErrorStatus: 503, RetryAfter: hubsim.Duration(time.Second)}, "fault_status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokers := Brokers(t)
			topic := NewTopic(t, brokers, 4)
			group := UniqueName(t, "g")
			// No user the API refuses: a chunk split to isolate one reports its delivered part
			// only when the whole chunk resolves, so hubsim's view and the worker's would differ
			// by design.
			s := withoutRefusedUsers(mixedStream(8_000, 80, 0, 11))
			Produce(t, brokers, topic, s.msgs...)
			hub, url := newInProcessHubsim(t, hubsim.Faults{Latency: hubsim.Duration(20 * time.Millisecond)})
			bin := Binary(t, "profile-ingest")
			w := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url, "--max-in-flight", "2",
				"--commit-interval", "200ms", "--drain-timeout", drainTimeout.String())...)
			Eventually(t, 2*time.Minute, "1000 events applied", func() bool { return hub.Stats().EventsApplied >= 1000 })

			hub.SetFaults(tc.outage)
			Eventually(t, time.Minute, "the worker meets the outage", func() bool { return hub.Stats().Rejections[tc.cause] > 5 })
			if hub.Stats().EventsApplied >= int64(s.good) {
				t.Fatal("everything was applied before the outage; the test proves nothing")
			}
			// Chunks wait on the API, yet what was resolved before the outage is committed.
			var committed, resolved map[int]int64
			defer func() {
				if t.Failed() {
					t.Logf("committed %v, resolved %v", committed, resolved)
				}
			}()
			Eventually(t, 30*time.Second, "the records resolved before the outage are committed while chunks wait", func() bool {
				committed, resolved = committedOrZero(t, brokers, group, topic), resolvedPrefix(t, hub, brokers, topic, s)
				return equalOffsets(committed, resolved)
			})

			w.Signal(syscall.SIGTERM)
			if code := w.Wait(waitBound); code != 4 {
				t.Fatalf("SIGTERM during a %s outage: exit %d, want 4 (the drain abandoned what the API did not take)", tc.name, code)
			}
			committed, resolved = committedOrZero(t, brokers, group, topic), resolvedPrefix(t, hub, brokers, topic, s)
			if !equalOffsets(committed, resolved) {
				t.Fatalf("after the drain: committed %v, want exactly the resolved prefix %v", committed, resolved)
			}

			hub.SetFaults(hubsim.Faults{})
			next := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url, "--stop-at-end")...)
			if code := next.Wait(3 * time.Minute); code != 0 {
				t.Fatalf("the next run exited %d, want 0", code)
			}
			verifyOutcome(t, hub, brokers, topic, group, s, true)
		})
	}
}

// TestRevokeDuringAPIOutageEndsTheGeneration adds a second member while the API refuses the
// credentials: the first member's generation must end within the drain deadline, both members
// must get partitions, and once the API takes requests again the group delivers everything.
func TestRevokeDuringAPIOutageEndsTheGeneration(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 8)
	group := UniqueName(t, "g")
	s := mixedStream(6_000, 80, 0, 12)
	Produce(t, brokers, topic, s.msgs...)
	hub, url := newInProcessHubsim(t, hubsim.Faults{AuthOutage: true, RejectDistinctID: s.rejectRE})
	bin := Binary(t, "profile-ingest")
	args := func() []string {
		return workerArgs(brokers, topic, group, url, "--max-in-flight", "2", "--commit-interval", "200ms",
			"--drain-timeout", drainTimeout.String())
	}
	a := Start(t, workerEnv, bin, args()...)
	Eventually(t, time.Minute, "the first worker meets the outage", func() bool {
		return hub.Stats().Rejections["fault_auth_outage"] > 5 && strings.Contains(a.Output(), "generation started")
	})
	b := Start(t, workerEnv, bin, args()...)
	Eventually(t, waitBound, "the first worker's generation ends during the outage and both members get partitions", func() bool {
		return strings.Contains(a.Output(), "generation ended") && strings.Count(a.Output(), "generation started") >= 2 &&
			strings.Contains(b.Output(), "generation started")
	})
	if n := hub.Stats().EventsApplied; n != 0 {
		t.Fatalf("%d events applied during the outage", n)
	}
	hub.SetFaults(hubsim.Faults{RejectDistinctID: s.rejectRE})
	Eventually(t, 3*time.Minute, "offsets committed to the end once the API is back", func() bool {
		return committedToEnd(t, brokers, group, topic)
	})
	stopAll(t, waitBound, a, b)
	verifyOutcome(t, hub, brokers, topic, group, s, true)
}

// TestLongRevokeDrainKeepsTheMember revokes a member whose drain lasts several session timeouts
// against an API that answers each request 5 s late, so that no commit (which also refreshes a
// member's session) happens for longer than the 3 s session: the member must stay in the group
// through the drain, so that its final commit is accepted and the next owner of its partitions
// sends nothing again.
func TestLongRevokeDrainKeepsTheMember(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 8)
	group := UniqueName(t, "g")
	// No user the API refuses: isolating one takes a request per split, seconds each here.
	s := withoutRefusedUsers(mixedStream(1_000, 80, 0, 13))
	Produce(t, brokers, topic, s.msgs...)
	hub, url := newInProcessHubsim(t, hubsim.Faults{Latency: hubsim.Duration(5 * time.Second)})
	bin := Binary(t, "profile-ingest")
	// Session 3s, heartbeat 1s: a drain of ten seconds or more outlives the session many times.
	cfg := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(cfg, []byte("kafka:\n  session_timeout: 3s\n  heartbeat_interval: 1s\n  rebalance_timeout: 90s\n"+
		"consumer:\n  drain_timeout: 60s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := func() []string {
		return workerArgs(brokers, topic, group, url, "--config", cfg, "--max-in-flight", "2", "--commit-interval", "200ms")
	}
	a := Start(t, workerEnv, bin, args()...)
	Eventually(t, time.Minute, "the first worker delivers", func() bool { return hub.Stats().EventsApplied > 0 })
	b := Start(t, workerEnv, bin, args()...)
	Eventually(t, 3*time.Minute, "the first worker's generation ends", func() bool { return strings.Contains(a.Output(), "generation ended") })
	drain, measured := drainDuration(t, a.Output())
	if measured && drain < 3*time.Second {
		t.Fatalf("the revoke drain took %s, not longer than the session timeout; the test proves nothing", drain)
	}
	Eventually(t, 3*time.Minute, "every good record applied", func() bool { return hub.Stats().EventsApplied >= int64(s.good) })
	Eventually(t, 2*time.Minute, "offsets committed to the end", func() bool { return committedToEnd(t, brokers, group, topic) })
	stopAll(t, 2*time.Minute, a, b)
	if strings.Contains(a.Output(), "offset commit failed") {
		t.Errorf("the first member's commits were refused after its drain:\n%s", lastLines(grepLines(a.Output(), "offset commit failed"), 5))
	}
	// The drain's commit was accepted: nothing the first member delivered is sent again.
	verifyOutcome(t, hub, brokers, topic, group, s, false)
	t.Logf("revoke drain of %s with a 3s session timeout", drain)
}

// drainDuration is how long the worker's first drain lasted, from its "draining" log line to
// "generation ended"; ok is false when the log has no "draining" line.
func drainDuration(t *testing.T, out string) (d time.Duration, ok bool) {
	t.Helper()
	var began, ended time.Time
	for _, l := range jsonLines(t, out) {
		msg, _ := l["message"].(string)
		at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(l["time"]))
		switch {
		case msg == "draining" && began.IsZero():
			began = at
		case msg == "generation ended" && ended.IsZero() && !began.IsZero():
			ended = at
		}
	}
	return ended.Sub(began), !began.IsZero() && !ended.IsZero()
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// committedToEnd reports whether group has committed every partition of topic to its end.
func committedToEnd(t *testing.T, brokers []string, group, topic string) bool {
	end, committed := EndOffsets(t, brokers, topic), CommittedOffsets(t, brokers, group, topic)
	for p, e := range end {
		if committed[p] != e {
			return false
		}
	}
	return true
}

// stopAll sends SIGTERM to every worker and fails t unless each exits 0 within timeout.
func stopAll(t *testing.T, timeout time.Duration, workers ...*Process) {
	t.Helper()
	for _, w := range workers {
		w.Signal(syscall.SIGTERM)
	}
	for _, w := range workers {
		if code := w.Wait(timeout); code != 0 {
			t.Errorf("worker exited %d after SIGTERM, want 0", code)
		}
	}
}

// withoutRefusedUsers drops the records of the users a test's hubsim would refuse.
func withoutRefusedUsers(s stream) stream {
	kept := s.msgs[:0:0]
	for _, m := range s.msgs {
		if strings.HasPrefix(string(m.Key), "it-reject-") {
			delete(s.wantDLQ, string(m.Value))
			continue
		}
		kept = append(kept, m)
	}
	s.msgs, s.rejectCnt = kept, 0
	return s
}

// committedOrZero is CommittedOffsets with 0 for every partition without a commit.
func committedOrZero(t *testing.T, brokers []string, group, topic string) map[int]int64 {
	t.Helper()
	out := CommittedOffsets(t, brokers, group, topic)
	for p := range Partitions(t, brokers, topic) {
		if _, ok := out[p]; !ok {
			out[p] = 0
		}
	}
	return out
}

// resolvedPrefix returns, per partition of topic, the offset of its first record that is
// neither applied by hub nor in the dead-letter topic (the end offset when there is none): what
// a worker may commit, and after a drain must have committed.
func resolvedPrefix(t *testing.T, hub *Hub, brokers []string, topic string, s stream) map[int]int64 {
	t.Helper()
	applied := map[string]bool{}
	for u := range s.perUser {
		p, _ := hub.Profile(u)
		for _, id := range p.InsertIDs {
			applied[id] = true
		}
	}
	dead := map[string]bool{}
	for _, d := range ReadAll(t, brokers, topic+".dlq") {
		p, _ := dlq.Header(d.Headers, dlq.HeaderOriginPartition)
		o, _ := dlq.Header(d.Headers, dlq.HeaderOriginOffset)
		dead[p+"/"+o] = true
	}
	end := EndOffsets(t, brokers, topic)
	out := map[int]int64{}
	for p := range end {
		out[p] = end[p]
		for _, m := range ReadPartition(t, brokers, topic, p, 0, end[p]) {
			var v struct {
				EventID string `json:"event_id"`
			}
			_ = json.Unmarshal(m.Value, &v)
			if !applied[v.EventID] && !dead[fmt.Sprintf("%d/%d", p, m.Offset)] {
				out[p] = m.Offset
				break
			}
		}
	}
	return out
}

func equalOffsets(a, b map[int]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for p, o := range a {
		if b[p] != o {
			return false
		}
	}
	return true
}
