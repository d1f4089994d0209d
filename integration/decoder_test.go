//go:build integration

package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestWorkerRefusesAnUnusableWorkspaceKeyAtStart: a workspace key the events cannot carry (one
// with a space inside; the config's non-empty check lets it through) fails the start with exit 2
// naming suprsend.workspace_key. No record is sent, dead-lettered or committed: the records wait
// for a worker with a usable key, instead of each being dead-lettered as the worker's own fault.
func TestWorkerRefusesAnUnusableWorkspaceKeyAtStart(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 2)
	dead := topic + ".dlq"
	CreateTopic(t, brokers, dead, 1)
	t.Cleanup(func() { deleteTopic(brokers, dead) })
	group := UniqueName(t, "g")
	s := mixedStream(200, 10, 0, 31)
	Produce(t, brokers, topic, s.msgs...)
	hub, url := newInProcessHubsim(t, hubsim.Faults{})

	args := workerArgs(brokers, topic, group, url, "--stop-at-end")
	for i := range args {
		if args[i] == "--workspace-key" {
			args[i+1] = "WS KEY"
		}
	}
	w := Start(t, workerEnv, Binary(t, "profile-ingest"), args...)
	if code := w.Wait(2 * time.Minute); code != 2 {
		t.Fatalf("exited %d, want 2 (bad configuration)\n%s", code, lastLines(w.Output(), 20))
	}
	if out := w.Output(); !strings.Contains(out, "suprsend.workspace_key") || !strings.Contains(out, "space or control character") {
		t.Errorf("the error does not name the field and the rule:\n%s", lastLines(out, 20))
	}
	if st := hub.Stats(); st.Requests != 0 {
		t.Errorf("hubsim got %d requests, want none", st.Requests)
	}
	if n := len(ReadAll(t, brokers, dead)); n != 0 {
		t.Errorf("%d records dead-lettered, want none", n)
	}
	for p, off := range CommittedOffsets(t, brokers, group, topic) {
		if off > 0 {
			t.Errorf("partition %d: committed %d, want nothing committed", p, off)
		}
	}
}
