package tools

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/dlq"
)

var (
	t0    = time.Date(2026, 3, 1, 10, 0, 0, 123e6, time.UTC)
	first = t0.Add(-2 * time.Minute)
)

// deadLetter is the message the Writer would produce for r, read back at partition/offset.
func deadLetter(r dlq.Record, partition int, offset int64, at time.Time) kafka.Message {
	m := r.Message("profile-ingest/1.2.3", "worker-7", r.Err)
	m.Topic, m.Partition, m.Offset, m.Time = "t.dlq", partition, offset, at
	return m
}

func rejected(key string, replays int) dlq.Record {
	var h []kafka.Header
	if replays > 0 {
		h = append(h, kafka.Header{Key: dlq.HeaderReplayCount, Value: []byte(itoa(replays))})
	}
	h = append(h, kafka.Header{Key: "traceparent", Value: []byte("00-abc-def-01")})
	return dlq.Record{
		Key: []byte(key), Value: []byte(`{"distinct_id":"` + key + `"}`), Headers: h,
		Origin: dlq.Origin{Topic: "profiles", Partition: 3, Offset: 41, Timestamp: first.Add(-time.Hour)},
		Reason: "rejected", Err: "400 Bad Request: bad email", Status: 400, Attempts: 2,
		FirstFailure: first, LastFailure: t0, InsertID: "iid-" + key,
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestParseEntryReadsEveryHeader(t *testing.T) {
	m := deadLetter(rejected("user-1", 2), 1, 7, t0.Add(time.Second))
	e := ParseEntry(m)
	want := Entry{
		Partition: 1, Offset: 7, Time: t0.Add(time.Second), Key: []byte("user-1"), Value: m.Value, Headers: m.Headers,
		Reason: "rejected", Error: "400 Bad Request: bad email", Status: 400,
		Origin:   dlq.Origin{Topic: "profiles", Partition: 3, Offset: 41, Timestamp: first.Add(-time.Hour)},
		Attempts: 2, FirstFailure: first, LastFailure: t0, ReplayCount: 2, InsertID: "iid-user-1",
		Original: "profiles/3/41", WorkerVersion: "profile-ingest/1.2.3", WorkerHost: "worker-7",
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("ParseEntry:\n got %+v\nwant %+v", e, want)
	}
	if !e.FailedAt().Equal(t0) {
		t.Errorf("FailedAt %s, want the last failure %s", e.FailedAt(), t0)
	}
}

func TestParseEntryOfAForeignRecordLeavesFieldsZero(t *testing.T) {
	m := kafka.Message{Partition: 0, Offset: 3, Time: t0, Key: []byte("k"), Value: []byte("v"), Headers: []kafka.Header{
		{Key: dlq.HeaderStatus, Value: []byte("four hundred")},
		{Key: dlq.HeaderLastFailure, Value: []byte("yesterday")},
		{Key: dlq.HeaderReplayCount, Value: []byte("-4")},
	}}
	e := ParseEntry(m)
	if e.Reason != "" || e.Status != 0 || !e.LastFailure.IsZero() || e.ReplayCount != 0 || e.Origin.Topic != "" {
		t.Errorf("malformed headers gave %+v, want zero fields", e)
	}
	if !e.FailedAt().Equal(t0) {
		t.Errorf("FailedAt %s, want the record time %s when no last failure", e.FailedAt(), t0)
	}
}

func TestMarshalLine(t *testing.T) {
	e := ParseEntry(deadLetter(rejected("user-1", 0), 1, 7, t0))
	b, err := e.MarshalLine(false)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"partition":1,"offset":7,"time":"2026-03-01T10:00:00.123Z","key":"user-1","reason":"rejected","status":400,` +
		`"error":"400 Bad Request: bad email","origin":{"topic":"profiles","partition":3,"offset":41,"timestamp":"2026-03-01T08:58:00.123Z"},` +
		`"attempts":2,"first_failure":"2026-03-01T09:58:00.123Z","last_failure":"2026-03-01T10:00:00.123Z","replay_count":0,` +
		`"insert_id":"iid-user-1","worker_version":"profile-ingest/1.2.3","worker_host":"worker-7","value_bytes":24}`
	if string(b) != want {
		t.Errorf("line:\n got %s\nwant %s", b, want)
	}
	b, _ = e.MarshalLine(true)
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["value"] != `{"distinct_id":"user-1"}` {
		t.Errorf("--show-value: value %v, want the record's value as a string", got["value"])
	}
	empty := Entry{Value: []byte{}}
	b, _ = empty.MarshalLine(true)
	if !strings.Contains(string(b), `"value":""`) || !strings.Contains(string(b), `"last_failure":""`) {
		t.Errorf("an empty value must print as \"\" and an unknown time as \"\": %s", b)
	}
}

func TestFilterMatch(t *testing.T) {
	e := ParseEntry(deadLetter(rejected("u", 0), 0, 0, t0.Add(time.Second))) // last failure t0
	noLast := e
	noLast.LastFailure = time.Time{} // falls back to the record time, t0+1s
	for _, tc := range []struct {
		name string
		f    Filter
		e    Entry
		want bool
	}{
		{"zero filter keeps all", Filter{}, e, true},
		{"reason among several", Filter{Reasons: []string{"invalid_json", "rejected"}}, e, true},
		{"other reason", Filter{Reasons: []string{"retries_exhausted"}}, e, false},
		{"reason is exact", Filter{Reasons: []string{"Rejected"}}, e, false},
		{"since is inclusive", Filter{Since: t0}, e, true},
		{"since after", Filter{Since: t0.Add(time.Millisecond)}, e, false},
		{"until is exclusive", Filter{Until: t0}, e, false},
		{"until after", Filter{Until: t0.Add(time.Millisecond)}, e, true},
		{"window", Filter{Since: t0.Add(-time.Hour), Until: t0.Add(time.Hour), Reasons: []string{"rejected"}}, e, true},
		{"no last failure: record time", Filter{Since: t0.Add(500 * time.Millisecond)}, noLast, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.Match(tc.e); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFilterValidate(t *testing.T) {
	for _, tc := range []struct {
		name, wantErr string
		f             Filter
	}{
		{"empty reason", "Reasons", Filter{Reasons: []string{"rejected", " "}}},
		{"since not before until", "Since 2026-03-01T10:00:00.123Z must be before Until", Filter{Since: t0, Until: t0}},
		{"negative partition", "Partitions [-1]", Filter{Partitions: []int{-1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Validate = %v, want an error naming %q", err, tc.wantErr)
			}
		})
	}
	if err := (Filter{Reasons: []string{"rejected"}, Since: first, Until: t0, Partitions: []int{0, 2}}).Validate(); err != nil {
		t.Errorf("a good filter: %v", err)
	}
}

func TestSummary(t *testing.T) {
	var s Summary
	a := ParseEntry(deadLetter(rejected("a", 0), 0, 0, t0))
	b := ParseEntry(deadLetter(rejected("b", 1), 0, 1, t0))
	c := Entry{Reason: "invalid_json", Origin: dlq.Origin{Topic: "other"}, Time: t0.Add(time.Hour)} // no failure headers
	for _, e := range []Entry{a, b, c} {
		s.Add(e)
	}
	if s.Total != 3 || s.ByReason[ReasonStatus{"rejected", 400}] != 2 || s.ByReason[ReasonStatus{"invalid_json", 0}] != 1 {
		t.Errorf("by reason: %+v", s.ByReason)
	}
	if s.ByOrigin["profiles"] != 2 || s.ByOrigin["other"] != 1 || s.ByReplayCount[0] != 2 || s.ByReplayCount[1] != 1 {
		t.Errorf("by origin %v, by replay count %v", s.ByOrigin, s.ByReplayCount)
	}
	if !s.OldestFailure.Equal(first) || !s.NewestFailure.Equal(t0.Add(time.Hour)) {
		t.Errorf("failures from %s to %s, want %s to %s", s.OldestFailure, s.NewestFailure, first, t0.Add(time.Hour))
	}
}

func TestScanConfigValidate(t *testing.T) {
	c := DefaultScan()
	c.IdleTimeout = 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "IdleTimeout 0s") {
		t.Errorf("Validate = %v, want it to name IdleTimeout 0s", err)
	}
	if _, err := NewScanner(nil, "t.dlq"); err == nil {
		t.Error("NewScanner without brokers must fail")
	}
	if _, err := NewScanner([]string{"127.0.0.1:1"}, " "); err == nil {
		t.Error("NewScanner without a topic must fail")
	}
}
