//go:build integration

package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestStartAtTimeSkipsEarlierRecords: a new group started at a time (replaying history from a
// point) delivers the records written at or after it and none before.
func TestStartAtTimeSkipsEarlierRecords(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 3)
	group := UniqueName(t, "g")
	before := mixedStream(1_000, 30, 0, 12)
	Produce(t, brokers, topic, before.msgs...)
	time.Sleep(1100 * time.Millisecond) // --start has second precision
	start := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(start) + 100*time.Millisecond)
	after := mixedStream(700, 30, 0, 13)
	for i := range after.msgs { // other users, so "before" leaves no trace in their profiles
		after.msgs[i].Key = []byte("late-" + string(after.msgs[i].Key))
		after.msgs[i].Value = []byte(strings.ReplaceAll(string(after.msgs[i].Value), `"it-`, `"late-it-`))
	}
	Produce(t, brokers, topic, after.msgs...)
	hub, url := newInProcessHubsim(t, hubsim.Faults{})

	w := Start(t, workerEnv, Binary(t, "profile-ingest"),
		workerArgs(brokers, topic, group, url, "--start", start.Format(time.RFC3339), "--stop-at-end")...)
	if code := w.Wait(2 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d, want 0", code)
	}
	st := hub.Stats()
	if st.EventsApplied != int64(len(after.msgs)) {
		t.Errorf("applied %d events, want the %d written after --start", st.EventsApplied, len(after.msgs))
	}
	if _, ok := hub.Profile("it-user-001"); ok {
		t.Errorf("a user written only before --start was applied")
	}
	end, committed := EndOffsets(t, brokers, topic), CommittedOffsets(t, brokers, group, topic)
	for p, e := range end {
		if committed[p] != e {
			t.Errorf("partition %d: committed %d, want %d", p, committed[p], e)
		}
	}
}

// TestWorkerConsumesSeveralTopics: one group over two topics delivers both, dead-letters the bad
// records of both to one dead-letter topic, and commits both to their ends.
func TestWorkerConsumesSeveralTopics(t *testing.T) {
	brokers := Brokers(t)
	a, b := NewTopic(t, brokers, 2), NewTopic(t, brokers, 3)
	group := UniqueName(t, "g")
	dead := a + ".dlq"
	sa, sb := mixedStream(2_000, 40, 200, 14), mixedStream(1_500, 40, 150, 15)
	for i := range sb.msgs { // distinct users per topic keep the expected counts simple
		sb.msgs[i].Key = []byte("b-" + string(sb.msgs[i].Key))
		sb.msgs[i].Value = []byte(strings.ReplaceAll(string(sb.msgs[i].Value), `"it-`, `"b-it-`))
	}
	Produce(t, brokers, a, sa.msgs...)
	Produce(t, brokers, b, sb.msgs...)
	hub, url := newInProcessHubsim(t, hubsim.Faults{RejectDistinctID: "it-reject-"})
	args := workerArgs(brokers, a, group, url, "--stop-at-end")
	for i := range args {
		if args[i] == "--topics" {
			args[i+1] = a + "," + b
		}
	}
	w := Start(t, workerEnv, Binary(t, "profile-ingest"), args...)
	if code := w.Wait(2 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d, want 0", code)
	}
	if got, want := hub.Stats().EventsApplied, int64(sa.good+sb.good); got != want {
		t.Errorf("applied %d events, want %d", got, want)
	}
	if got, want := len(ReadAll(t, brokers, dead)), len(sa.wantDLQ)+len(sb.wantDLQ); got != want {
		t.Errorf("%d dead letters, want %d", got, want)
	}
	for _, topic := range []string{a, b} {
		end, committed := EndOffsets(t, brokers, topic), CommittedOffsets(t, brokers, group, topic)
		for p, e := range end {
			if committed[p] != e {
				t.Errorf("%s/%d: committed %d, want %d", topic, p, committed[p], e)
			}
		}
	}
}
