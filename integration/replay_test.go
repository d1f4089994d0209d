//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	dlqtools "github.com/profile-ingest/profile-ingest/dlq/tools"
	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestReplayOfAnAppliedDeadLetterAppliesNothingTwice: the API applies every request but its
// answers are lost, so the worker's retries run out and the records are dead-lettered as
// retries_exhausted although they were applied. Replaying them once the API answers again must
// not apply them a second time: the messages have no event_id, and their new offsets would give
// them new $insert_ids, so the dead letter carries the id they were sent with and the replay
// sends it again.
func TestReplayOfAnAppliedDeadLetterAppliesNothingTwice(t *testing.T) {
	brokers := Brokers(t)
	bin := Binary(t, "profile-ingest")
	topic := NewTopic(t, brokers, 2)
	hs, url := newInProcessHubsim(t, hubsim.Faults{LostResponseRate: 1})
	const n, users = 40, 4
	var msgs []kafka.Message
	for i := range n {
		u := fmt.Sprintf("inc-%d", i%users)
		msgs = append(msgs, kafka.Message{Key: []byte(u), Value: fmt.Appendf(nil, `{"distinct_id":%q,"operations":[{"increment":{"n":1}}]}`, u)})
	}
	Produce(t, brokers, topic, msgs...)

	cfg := filepath.Join(t.TempDir(), "retry.yaml")
	if err := os.WriteFile(cfg, []byte("sender: {retry_initial: 50ms, retry_max: 200ms, retry_max_elapsed: 1s}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	group := UniqueName(t, "g")
	work := func(what string) {
		t.Helper()
		p := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url, "--config", cfg, "--stop-at-end")...)
		if code := p.Wait(3 * time.Minute); code != 0 {
			t.Fatalf("%s: worker exited %d", what, code)
		}
	}
	work("first run, answers lost")
	st := hs.Stats()
	if st.EventsApplied != n || st.LostResponses == 0 {
		t.Fatalf("after the first run: %d events applied, %d lost responses; want %d applied and lost answers", st.EventsApplied, st.LostResponses, n)
	}
	dead := ReadAll(t, brokers, topic+".dlq")
	if len(dead) != n {
		t.Fatalf("%d dead letters, want all %d (their answers were lost)", len(dead), n)
	}
	for _, m := range dead {
		e := dlqtools.ParseEntry(m)
		if e.Reason != "retries_exhausted" || e.InsertID == "" {
			t.Fatalf("dead letter %s: reason %q insert id %q; want retries_exhausted with the id it was sent with", m.Key, e.Reason, e.InsertID)
		}
	}

	hs.SetFaults(hubsim.Faults{})
	if code, out := dlqRun(t, brokers, "replay", "--topic", topic+".dlq", "--yes"); code != 0 {
		t.Fatalf("replay exited %d:\n%s", code, out)
	}
	work("second run, the replayed records")
	st = hs.Stats()
	if st.EventsApplied != n || st.Duplicates < n {
		t.Errorf("after the replay: %d events applied, %d duplicates; want still %d applied and the %d replayed ones as duplicates",
			st.EventsApplied, st.Duplicates, n, n)
	}
	for u := range users {
		id := fmt.Sprintf("inc-%d", u)
		p, ok := hs.Profile(id)
		if got := fmt.Sprint(p.Properties["n"]); !ok || got != fmt.Sprint(n/users) {
			t.Errorf("profile %s: n = %s, want %d (each increment once)", id, got, n/users)
		}
	}
}
