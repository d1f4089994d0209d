package tools

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/dlq"
)

func TestReplayMessageRewritesHeaders(t *testing.T) {
	for _, tc := range []struct {
		name      string
		replays   int
		wantCount string
	}{
		{"first replay", 0, "1"},
		{"third replay", 2, "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rejected("user-1", tc.replays)
			m := ReplayMessage(deadLetter(r, 0, 5, t0), "profiles")
			if m.Topic != "profiles" || string(m.Key) != "user-1" || string(m.Value) != string(r.Value) {
				t.Errorf("topic %q key %q value %q: want profiles and the original key and value", m.Topic, m.Key, m.Value)
			}
			want := []kafka.Header{
				{Key: dlq.HeaderReplayCount, Value: []byte(tc.wantCount)},
				{Key: dlq.HeaderInsertID, Value: []byte("iid-user-1")},
				{Key: dlq.HeaderOriginal, Value: []byte("profiles/3/41")}, // every copy names the first consumption
				{Key: "traceparent", Value: []byte("00-abc-def-01")},
			}
			if !reflect.DeepEqual(m.Headers, want) {
				t.Errorf("headers %v, want %v: own headers dropped but the count+1, the insert id and the original, originals kept", m.Headers, want)
			}
			if !m.Time.Equal(r.Origin.Timestamp) {
				t.Errorf("time %s, want the original record's %s", m.Time, r.Origin.Timestamp)
			}
			if m.Partition != 0 || m.Offset != 0 {
				t.Errorf("partition %d offset %d: the balancer must choose, by key", m.Partition, m.Offset)
			}
		})
	}
}

// A replayed record that fails again is dead-lettered with the count it carried: the loop guard
// sees the whole history.
func TestReplayCountSurvivesAnotherDeadLetter(t *testing.T) {
	replayed := ReplayMessage(deadLetter(rejected("u", 1), 0, 0, t0), "profiles") // count 2
	again := dlq.Record{Key: replayed.Key, Value: replayed.Value, Headers: replayed.Headers, Reason: "rejected",
		Origin: dlq.Origin{Topic: "profiles"}}
	e := ParseEntry(deadLetter(again, 0, 9, t0))
	if e.ReplayCount != 2 {
		t.Fatalf("dead-lettered again with replay count %d, want 2", e.ReplayCount)
	}
	if n := dlq.ReplayCount(ReplayMessage(deadLetter(again, 0, 9, t0), "profiles").Headers); n != 3 {
		t.Errorf("replayed again with count %d, want 3", n)
	}
}

func TestReplayMessageWithoutOriginTimestampLetsTheWriterStamp(t *testing.T) {
	m := ReplayMessage(kafka.Message{Key: []byte("k"), Value: []byte("v")}, "x")
	if !m.Time.IsZero() {
		t.Errorf("time %s, want zero so the writer stamps it", m.Time)
	}
	if n := dlq.ReplayCount(m.Headers); n != 1 {
		t.Errorf("replay count %d, want 1", n)
	}
}

func TestReplayReportHistogram(t *testing.T) {
	rep := newReport()
	rej := ParseEntry(deadLetter(rejected("a", 0), 0, 0, t0))
	guarded := ParseEntry(deadLetter(rejected("b", 3), 0, 1, t0))
	bad := Entry{Reason: "invalid_json", Origin: dlq.Origin{Topic: "profiles"}}
	rep.add(rej, "profiles", Replayed)
	rep.add(rej, "profiles", Replayed)
	rep.add(guarded, "", SkippedLimit)
	rep.add(bad, "", SkippedFilter)

	if rep.Counts != (Counts{Replayed: 2, SkippedFilter: 1, SkippedLimit: 1}) {
		t.Errorf("totals %+v", rep.Counts)
	}
	if *rep.ByReason["rejected"] != (Counts{Replayed: 2, SkippedLimit: 1}) || *rep.ByReason["invalid_json"] != (Counts{SkippedFilter: 1}) {
		t.Errorf("by reason: rejected %+v, invalid_json %+v", rep.ByReason["rejected"], rep.ByReason["invalid_json"])
	}
	if *rep.ByStatus[ReasonStatus{"rejected", 400}] != (Counts{Replayed: 2, SkippedLimit: 1}) {
		t.Errorf("by status: %+v", rep.ByStatus)
	}
	if len(rep.ByDestination) != 1 || rep.ByDestination["profiles"].Replayed != 2 {
		t.Errorf("by destination: %+v (skipped records have none)", rep.ByDestination)
	}
	if len(rep.Guarded) != 1 || string(rep.Guarded[0].Key) != "b" || rep.Guarded[0].Value != nil {
		t.Errorf("guarded: %+v, want b without its value", rep.Guarded)
	}
	for range 2 * MaxGuarded {
		rep.add(guarded, "", SkippedLimit)
	}
	if len(rep.Guarded) != MaxGuarded || rep.SkippedLimit != 1+2*MaxGuarded {
		t.Errorf("%d guarded kept of %d, want %d kept", len(rep.Guarded), rep.SkippedLimit, MaxGuarded)
	}
}

func TestReplayConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name, wantErr string
		mut           func(*ReplayConfig)
	}{
		{"no group", "Group is empty", func(c *ReplayConfig) { c.Group = "" }},
		{"max replays 0", "MaxReplays 0", func(c *ReplayConfig) { c.MaxReplays = 0 }},
		{"batch 0", "BatchRecords 0", func(c *ReplayConfig) { c.BatchRecords = 0 }},
		{"bytes 0", "BatchBytes 0", func(c *ReplayConfig) { c.BatchBytes = 0 }},
		{"timeout", "WriteTimeout -1s", func(c *ReplayConfig) { c.WriteTimeout = -time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultReplay("t.dlq.replay")
			tc.mut(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
	s, err := NewScanner([]string{"127.0.0.1:1"}, "t.dlq")
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultReplay("g")
	c.To = "t.dlq"
	if _, err := NewReplayer(s, c); err == nil || !strings.Contains(err.Error(), "dead-letter topic itself") {
		t.Errorf("replaying to the dead-letter topic: %v, want a refusal", err)
	}
}
