package main

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/dlq"
	dlqtools "github.com/profile-ingest/profile-ingest/dlq/tools"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestParseWhen(t *testing.T) {
	for _, tc := range []struct {
		in, wantErr string
		want        time.Time
	}{
		{in: ""},
		{in: "2026-02-28T23:00:00Z", want: time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC)},
		{in: "2026-03-01T10:00:00.5+02:00", want: time.Date(2026, 3, 1, 8, 0, 0, 5e8, time.UTC)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "yesterday", wantErr: `dlq replay: --since "yesterday": use an RFC 3339 time`},
		{in: "-5m", wantErr: `--since "-5m"`},
		{in: "2026-03-01", wantErr: `--since "2026-03-01"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseWhen("dlq replay", "since", tc.in, now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Errorf("got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// Bad flags fail with exit status 2 and name the flag and its value, before any broker is asked
// (the brokers here do not exist).
func TestDlqUsageErrors(t *testing.T) {
	src := dlqTopicFlags{kafkaFlags: kafkaFlags{Brokers: []string{"127.0.0.1:1"}}, Topic: "t.dlq"}
	for _, tc := range []struct {
		name, wantErr string
		run           func(stderr *bytes.Buffer) error
	}{
		{"replay: unknown reason", `--reason "rejeted": not a reason`, func(e *bytes.Buffer) error {
			c := dlqReplayCmd{dlqTopicFlags: src, dlqFilterFlags: dlqFilterFlags{Reason: []string{"rejeted"}}, MaxReplays: 3, BatchSize: 10}
			return c.run(context.Background(), strings.NewReader(""), &bytes.Buffer{}, e, now)
		}},
		{"replay: max replays", "--max-replays 0 must be at least 1", func(e *bytes.Buffer) error {
			c := dlqReplayCmd{dlqTopicFlags: src, MaxReplays: 0, BatchSize: 10}
			return c.run(context.Background(), strings.NewReader(""), &bytes.Buffer{}, e, now)
		}},
		{"replay: to itself", "--to t.dlq is the dead-letter topic itself", func(e *bytes.Buffer) error {
			c := dlqReplayCmd{dlqTopicFlags: src, To: "t.dlq", MaxReplays: 3, BatchSize: 10}
			return c.run(context.Background(), strings.NewReader(""), &bytes.Buffer{}, e, now)
		}},
		{"inspect: since after until", "--since 1h must be before --until 2h", func(e *bytes.Buffer) error {
			c := dlqInspectCmd{dlqTopicFlags: src, dlqFilterFlags: dlqFilterFlags{Since: "1h", Until: "2h"}}
			return c.run(context.Background(), &bytes.Buffer{}, e, now)
		}},
		{"inspect: negative limit", "--limit -1", func(e *bytes.Buffer) error {
			c := dlqInspectCmd{dlqTopicFlags: src, Limit: -1}
			return c.run(context.Background(), &bytes.Buffer{}, e, now)
		}},
		{"inspect: no topic", "--topic: name the dead-letter topic", func(e *bytes.Buffer) error {
			c := dlqInspectCmd{dlqTopicFlags: dlqTopicFlags{kafkaFlags: kafkaFlags{Brokers: src.Brokers}}}
			return c.run(context.Background(), &bytes.Buffer{}, e, now)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := tc.run(&stderr)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err %v, want exit status %d and %q", err, exitUsage, tc.wantErr)
			}
		})
	}
}

func TestInspectWarnsOfAnUnknownReason(t *testing.T) {
	var stderr bytes.Buffer
	f := dlqFilterFlags{Reason: []string{"rejected", "made_up"}}
	got, err := f.filter("dlq inspect", now, false, &stderr)
	if err != nil || len(got.Reasons) != 2 {
		t.Fatalf("filter: %+v, %v; inspect must accept any reason", got, err)
	}
	if !strings.Contains(stderr.String(), `--reason "made_up" is not a reason profile-ingest writes`) {
		t.Errorf("stderr %q, want a note about made_up", stderr.String())
	}
}

// TestReplayAcceptsTheLegacyInvalidOptionsReason: workers no longer write invalid_options (the
// options are checked at start), but dead letters from earlier versions carry it, and a replay
// (strict about reasons) must still be able to select them, without a note.
func TestReplayAcceptsTheLegacyInvalidOptionsReason(t *testing.T) {
	if slices.Contains(knownReasons, "invalid_options") {
		t.Fatal("invalid_options is listed as a reason this worker writes")
	}
	var stderr bytes.Buffer
	f := dlqFilterFlags{Reason: []string{"invalid_options"}}
	got, err := f.filter("dlq replay", now, true, &stderr)
	if err != nil || len(got.Reasons) != 1 || stderr.Len() != 0 {
		t.Fatalf("filter: %+v, %v, stderr %q; want invalid_options selected", got, err, stderr.String())
	}
}

func TestWriteSummary(t *testing.T) {
	var s dlqtools.Summary
	// The journal names the dead letter at partition 0 offset 0 replayed; the u-3 ones are on partition 1.
	s.Journal = dlqtools.NewJournal(dlqtools.JournalRecord{Topic: "profiles.dlq", Partition: 0, Replayed: map[string][]int64{"profiles": {0}},
		At: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)})
	add := func(n int, e dlqtools.Entry) {
		for range n {
			s.Add(e)
		}
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	add(2, dlqtools.Entry{Key: []byte("u-1"), Error: `operations[0].add_email: "a b@x" is not a valid email`, Reason: "rejected", Status: 400, Origin: dlq.Origin{Topic: "profiles"}, FirstFailure: at, LastFailure: at.Add(time.Minute)})
	add(1, dlqtools.Entry{Key: []byte("u-2"), Error: `operations[0].add_email: "c@" is not a valid email`, Reason: "rejected", Status: 400, Origin: dlq.Origin{Topic: "profiles"}, FirstFailure: at, LastFailure: at.Add(time.Minute)})
	add(1, dlqtools.Entry{Key: []byte("u-2"), Error: "503", Reason: "retries_exhausted", Status: 503, Origin: dlq.Origin{Topic: "profiles"}, ReplayCount: 1, LastFailure: at.Add(time.Hour)})
	add(2, dlqtools.Entry{Partition: 1, Key: []byte("u-3"), Error: "invalid character", Reason: "invalid_json", Origin: dlq.Origin{Topic: "legacy"}, LastFailure: at.Add(2 * time.Minute)})
	var out bytes.Buffer
	writeSummary(&out, "profiles.dlq", &s, dlqtools.ScanStats{Read: 9})
	want := `profiles.dlq: 6 dead letters match (of 9 read)
oldest failure 2026-03-01T10:00:00.000Z, newest 2026-03-01T11:00:00.000Z
never replayed 2, replayed by dlq replay 4 (per the replay journal profiles.dlq.replays)

REPLAYED TO  COUNT  LAST REPLAY
profiles     4      2026-03-01T12:00:00.000Z

REASON             STATUS  COUNT  NEVER REPLAYED
rejected           400     3      0
invalid_json       0       2      2
retries_exhausted  503     1      0

ORIGIN TOPIC  COUNT
profiles      4
legacy        2

KEY (DISTINCT_ID)  COUNT
u-1                2
u-2                2
u-3                2

ERROR (QUOTED VALUES ELIDED)                       COUNT
operations[0].add_email: "…" is not a valid email  3
invalid character                                  2
503                                                1

REPLAYED BEFORE  COUNT
0 times          5
1 times          1
`
	if out.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", out.String(), want)
	}
}

// The dry-run histogram: by reason and status, by destination, the loop-guarded records by
// name, and one final line with the three counts per reason.
func TestWriteReplayReportDryRun(t *testing.T) {
	rep := &dlqtools.ReplayReport{
		Counts: dlqtools.Counts{Replayed: 4, SkippedFilter: 3, SkippedLimit: 1, SkippedSuperseded: 2}, Unread: 1,
		ByReason: map[string]*dlqtools.Counts{
			"rejected":     {Replayed: 4, SkippedLimit: 1, SkippedSuperseded: 2},
			"invalid_json": {SkippedFilter: 2},
		},
		ByStatus: map[dlqtools.ReasonStatus]*dlqtools.Counts{
			{Reason: "rejected", Status: 400}:   {Replayed: 4, SkippedLimit: 1, SkippedSuperseded: 2},
			{Reason: "invalid_json", Status: 0}: {SkippedFilter: 2},
		},
		ByDestination: map[string]*dlqtools.Counts{"profiles": {Replayed: 4}},
		Guarded:       []dlqtools.Entry{{Partition: 0, Offset: 17, Key: []byte("u-9"), Reason: "rejected", ReplayCount: 3}},
	}
	var out bytes.Buffer
	rc := dlqtools.DefaultReplay("profiles.dlq.replay")
	rc.DryRun = true
	writeReplayReport(&out, "profiles.dlq", rc, rep)
	want := `replay of profiles.dlq by group profiles.dlq.replay (dry run: nothing published, nothing committed)
REASON                    STATUS  REPLAYED  SKIPPED BY FILTER  SKIPPED BY REPLAY LIMIT  SUPERSEDED BY A LATER COPY
invalid_json              0       0         2                  0                        0
rejected                  400     4         0                  1                        2
(before --since, unread)          0         1                  0                        0

DESTINATION TOPIC  REPLAYED
profiles           4
loop guard: profiles.dlq/0 offset 17 (key "u-9", reason rejected) was replayed 3 times already; not replayed
dry run: would replay 4 (rejected 4), skipped by filter 3 (invalid_json 2, before --since, unread 1), skipped by replay limit 1 (rejected 1)
superseded by a later copy of the same record 2 (rejected 2): only the newest dead letter of each original record is replayed
`
	if out.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", out.String(), want)
	}
}
