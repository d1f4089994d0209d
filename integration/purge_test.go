//go:build integration

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/dlq"
	dlqtools "github.com/profile-ingest/profile-ingest/dlq/tools"
	"github.com/profile-ingest/profile-ingest/internal/kafkautil"
)

// deadLettersTo writes recs as dead letters to one partition of topic, in order, each with its
// Kafka timestamp from at (the zero time: now).
func deadLettersTo(t *testing.T, brokers []string, topic string, partition int, at []time.Time, recs ...dlq.Record) {
	t.Helper()
	tr := &kafka.Transport{DialTimeout: 10 * time.Second, MetadataTTL: time.Second}
	defer tr.CloseIdleConnections() // after the writer's Close (see closingTransport)
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Topic: topic, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond,
		Balancer:  kafka.BalancerFunc(func(kafka.Message, ...int) int { return partition }),
		Transport: tr,
	}
	defer w.Close()
	var msgs []kafka.Message
	for i, r := range recs {
		m := r.Message("profile-ingest/it", "it-host", r.Err)
		if i < len(at) {
			m.Time = at[i]
		}
		msgs = append(msgs, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write %d dead letters to %s/%d: %v", len(msgs), topic, partition, err)
	}
}

// dropJournal deletes the replay journal of dead when the test ends.
func dropJournal(t *testing.T, brokers []string, dead string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = Client(brokers).DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{dlqtools.JournalTopic(dead)}})
	})
}

type purgeReport struct {
	DryRun     bool `json:"dry_run"`
	Partitions []struct {
		Partition    int            `json:"partition"`
		LowWatermark int64          `json:"low_watermark"`
		End          int64          `json:"end"`
		DeleteBefore int64          `json:"delete_before"`
		Deletes      int            `json:"deletes"`
		ByReason     map[string]int `json:"by_reason"`
		SelectedKept int            `json:"selected_kept"`
		NewLow       *int64         `json:"new_low_watermark"`
		Error        string         `json:"error"`
	} `json:"partitions"`
	Deletes      int  `json:"deletes"`
	SelectedKept int  `json:"selected_kept"`
	Exported     *int `json:"exported"`
}

func purgeJSON(t *testing.T, brokers []string, args ...string) purgeReport {
	t.Helper()
	code, out := dlqRun(t, brokers, append([]string{"purge", "--json"}, args...)...)
	var r purgeReport
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
		t.Fatalf("purge %v: exit %d, %v\n%s", args, code, err, out)
	}
	return r
}

type summaryCounts struct {
	DeadLetters   int `json:"dead_letters"`
	Replayed      int `json:"replayed"`
	NeverReplayed int `json:"never_replayed"`
	ByReason      []struct {
		Reason        string `json:"reason"`
		Count         int    `json:"count"`
		NeverReplayed int    `json:"never_replayed"`
	} `json:"by_reason"`
	ReplayedTo []struct {
		Topic      string `json:"topic"`
		Count      int    `json:"count"`
		LastReplay string `json:"last_replay"`
	} `json:"replayed_to"`
}

func summaryOf(t *testing.T, brokers []string, dead string) summaryCounts {
	t.Helper()
	code, out := dlqRun(t, brokers, "inspect", "--topic", dead, "--summary", "--json")
	var s summaryCounts
	if err := json.Unmarshal([]byte(out), &s); code != 0 || err != nil {
		t.Fatalf("summary: exit %d, %v\n%s", code, err, out)
	}
	return s
}

// TestDlqPurgeOfReplayedDeadLetters: a filtered replay is journalled, so the summary counts what
// it replayed (and where to) apart from what was never replayed; `dlq purge --replayed` then
// deletes, per partition, the prefix of replayed (or superseded) dead letters up to the first
// one never replayed, which stays with every record after it, replayed or not. The dry run
// deletes nothing; a failing export deletes nothing; the export holds exactly what was deleted.
func TestDlqPurgeOfReplayedDeadLetters(t *testing.T) {
	brokers := Brokers(t)
	origin := NewTopic(t, brokers, 1)
	dead := NewTopic(t, brokers, 2)
	dropJournal(t, brokers, dead)
	now := time.Now().UTC().Truncate(time.Millisecond)
	// Partition 0: a0 a1 replayed, a2 not (another reason), a3 replayed but behind a2.
	deadLettersTo(t, brokers, dead, 0, nil,
		failed(origin, "a0", "rejected", 400, 0, now, 0),
		failed(origin, "a1", "rejected", 400, 0, now, 1),
		failed(origin, "a2", "retries_exhausted", 503, 0, now, 2),
		failed(origin, "a3", "rejected", 400, 0, now, 3))
	// Partition 1: b0 replayed; y (count 0) superseded by its later copy (count 1), never replayed.
	deadLettersTo(t, brokers, dead, 1, nil,
		failed(origin, "b0", "rejected", 400, 0, now, 10),
		failed(origin, "y", "retries_exhausted", 503, 0, now, 11),
		failed(origin, "y", "retries_exhausted", 503, 1, now, 11))

	if s := summaryOf(t, brokers, dead); s.DeadLetters != 7 || s.Replayed != 0 || s.NeverReplayed != 7 {
		t.Fatalf("summary before any replay: %+v", s)
	}
	if code, out := dlqRun(t, brokers, "replay", "--topic", dead, "--reason", "rejected"); code != 0 || !strings.Contains(out, "replayed 4 (rejected 4)") {
		t.Fatalf("replay: exit %d\n%s", code, out)
	}
	s := summaryOf(t, brokers, dead)
	if s.DeadLetters != 7 || s.Replayed != 4 || s.NeverReplayed != 3 || len(s.ReplayedTo) != 1 ||
		s.ReplayedTo[0].Topic != origin || s.ReplayedTo[0].Count != 4 || s.ReplayedTo[0].LastReplay == "" {
		t.Fatalf("summary after replaying the 4 rejected: %+v; want 4 replayed to %s, 3 never replayed", s, origin)
	}
	for _, r := range s.ByReason {
		if want := map[string]int{"rejected": 0, "retries_exhausted": 3}[r.Reason]; r.NeverReplayed != want {
			t.Errorf("summary: %s never replayed %d, want %d", r.Reason, r.NeverReplayed, want)
		}
	}
	code, out := dlqRun(t, brokers, "replay", "--topic", dead, "--status")
	if code != 0 || !strings.Contains(out, "4 dead letters replayed, 3 never replayed; 4 to "+origin) {
		t.Fatalf("replay --status: exit %d\n%s", code, out)
	}

	dry := purgeJSON(t, brokers, "--topic", dead, "--replayed")
	type row struct {
		before, deletes, kept int
		by                    map[string]int
	}
	want := []row{{2, 2, 1, map[string]int{"replayed": 2}}, {2, 2, 0, map[string]int{"replayed": 1, "superseded": 1}}}
	if !dry.DryRun || len(dry.Partitions) != 2 || dry.Deletes != 4 || dry.SelectedKept != 1 {
		t.Fatalf("dry run: %+v", dry)
	}
	for i, p := range dry.Partitions {
		w := want[i]
		if p.LowWatermark != 0 || p.DeleteBefore != int64(w.before) || p.Deletes != w.deletes || p.SelectedKept != w.kept || !equalCounts(p.ByReason, w.by) || p.NewLow != nil {
			t.Errorf("dry run, partition %d: %+v; want delete up to %d, %d deletes %v, %d selected kept", i, p, w.before, w.deletes, w.by, w.kept)
		}
	}
	if st := StartOffsets(t, brokers, dead); st[0] != 0 || st[1] != 0 {
		t.Fatalf("the dry run deleted records: log start offsets %v", st)
	}

	bad := filepath.Join(t.TempDir(), "missing-dir", "export.jsonl")
	if code, out := dlqRun(t, brokers, "purge", "--topic", dead, "--replayed", "--execute", "--yes", "--export", bad); code != 2 || !strings.Contains(out, "nothing deleted") {
		t.Errorf("purge with an unwritable export: exit %d, want 2 and nothing deleted\n%s", code, out)
	}
	if st := StartOffsets(t, brokers, dead); st[0] != 0 || st[1] != 0 {
		t.Fatalf("a purge whose export failed deleted records: log start offsets %v", st)
	}

	export := filepath.Join(t.TempDir(), "export.jsonl")
	done := purgeJSON(t, brokers, "--topic", dead, "--replayed", "--execute", "--yes", "--export", export)
	if done.DryRun || done.Deletes != 4 || done.Exported == nil || *done.Exported != 4 {
		t.Fatalf("purge --execute: %+v", done)
	}
	for i, p := range done.Partitions {
		if p.Error != "" || p.NewLow == nil || *p.NewLow != 2 {
			t.Errorf("purge --execute, partition %d: %+v; want new low watermark 2", i, p)
		}
	}
	if st := StartOffsets(t, brokers, dead); st[0] != 2 || st[1] != 2 {
		t.Errorf("after the purge: log start offsets %v, want 2 and 2", st)
	}
	var left []string
	for _, m := range ReadAll(t, brokers, dead) {
		left = append(left, string(m.Key))
	}
	if !slices.Equal(left, []string{"a2", "a3", "y"}) {
		t.Errorf("records left on the topic: %v, want a2, a3 (replayed, behind a2) and y's newest copy", left)
	}
	fi, err := os.Stat(export)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v, mode %v; want 0600", err, fi.Mode())
	}
	f, err := os.Open(export)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l dlqtools.ExportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Key == nil || l.Value == nil || len(l.Headers) == 0 {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		reason := ""
		for _, h := range l.Headers {
			if h.Key == dlq.HeaderReason && h.Value != nil {
				reason = *h.Value
			}
		}
		if !strings.Contains(*l.Value, `"distinct_id":"`+*l.Key+`"`) || reason == "" || l.Timestamp == "" {
			t.Errorf("export line %q: value, reason header or timestamp missing", sc.Text())
		}
		got = append(got, fmt.Sprintf("%s@%d/%d", *l.Key, l.Partition, l.Offset))
	}
	if !slices.Equal(got, []string{"a0@0/0", "a1@0/1", "b0@1/0", "y@1/1"}) {
		t.Errorf("exported %v, want exactly the 4 deleted records", got)
	}
	if s := summaryOf(t, brokers, dead); s.DeadLetters != 3 || s.Replayed != 1 || s.NeverReplayed != 2 {
		t.Errorf("summary after the purge: %+v; want 3 left, a3 replayed, 2 never", s)
	}
}

func equalCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

// TestDlqPurgeBefore: --before selects by the dead letter's own timestamp; the purge stops at
// the first newer record, and an older one after it stays. DeleteRecords past the end offset
// reports the partition's error.
func TestDlqPurgeBefore(t *testing.T) {
	brokers := Brokers(t)
	dead := NewTopic(t, brokers, 1)
	now := time.Now().UTC().Truncate(time.Millisecond)
	old := now.Add(-3 * time.Hour)
	deadLettersTo(t, brokers, dead, 0, []time.Time{old, old, now, old},
		failed("in", "o0", "rejected", 400, 0, now, 0),
		failed("in", "o1", "rejected", 400, 0, now, 1),
		failed("in", "n2", "rejected", 400, 0, now, 2),
		failed("in", "o3", "rejected", 400, 0, now, 3))
	for _, args := range [][]string{{}, {"--before", "yesterday"}, {"--replayed", "--yes"}} {
		code, out := dlqRun(t, brokers, append([]string{"purge", "--topic", dead}, args...)...)
		if code != 2 || !strings.Contains(out, "dlq purge: --") {
			t.Errorf("purge %v: exit %d, want 2 naming the flag\n%s", args, code, out)
		}
	}
	dry := purgeJSON(t, brokers, "--topic", dead, "--before", "1h")
	if p := dry.Partitions; len(p) != 1 || p[0].DeleteBefore != 2 || p[0].Deletes != 2 || p[0].ByReason["older"] != 2 || p[0].SelectedKept != 1 {
		t.Fatalf("dry run --before 1h: %+v", dry)
	}
	// Both: older and replayed. Nothing was replayed, so nothing is selected.
	if both := purgeJSON(t, brokers, "--topic", dead, "--before", "1h", "--replayed"); both.Deletes != 0 || both.Partitions[0].DeleteBefore != 0 {
		t.Errorf("--before with --replayed, nothing replayed: %+v", both)
	}
	if done := purgeJSON(t, brokers, "--topic", dead, "--before", "1h", "--execute", "--yes"); done.Deletes != 2 {
		t.Fatalf("purge --before --execute: %+v", done)
	}
	if st := StartOffsets(t, brokers, dead); st[0] != 2 {
		t.Errorf("after purge --before: log start %d, want 2", st[0])
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := kafkautil.DeleteRecords(ctx, Client(brokers), dead, map[int]int64{0: 99}, 10*time.Second)
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kafka.OffsetOutOfRange) {
		t.Errorf("DeleteRecords past the end: %+v, %v; want OFFSET_OUT_OF_RANGE for partition 0", res, err)
	}
}

// TestDlqPurgeRefusedWhileAReplayRuns: a purge of a dead-letter topic a replay is reading is
// refused, naming the replay, and deletes nothing.
func TestDlqPurgeRefusedWhileAReplayRuns(t *testing.T) {
	brokers := Brokers(t)
	origin := NewTopic(t, brokers, 1)
	dead := NewTopic(t, brokers, 1)
	dropJournal(t, brokers, dead)
	const n = 300
	rejectedDeadLetters(t, brokers, origin, dead, n)
	group := UniqueName(t, "replay")
	replay := Start(t, nil, Binary(t, "profile-ingest"), "dlq", "replay", "--topic", dead, "--reason", "rejected", "--group", group,
		"--batch-size", "1", "--brokers", strings.Join(brokers, ","))
	Eventually(t, time.Minute, "the replay publishing", func() bool { return EndOffsets(t, brokers, origin)[0] > 0 })
	code, out := dlqRun(t, brokers, "purge", "--topic", dead, "--before", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--execute", "--yes")
	if code != 1 || !strings.Contains(out, "profile-ingest-replay:"+group) || !strings.Contains(out, "holds the lock group") {
		t.Errorf("purge during a replay: exit %d, want 1 naming the replay\n%s", code, out)
	}
	if replay.Exited() {
		t.Fatalf("the replay ended before the purge; the test proves nothing:\n%s", replay.Output())
	}
	if st := StartOffsets(t, brokers, dead); st[0] != 0 {
		t.Errorf("the refused purge deleted records: log start %d", st[0])
	}
	if code := replay.Wait(3 * time.Minute); code != 0 {
		t.Fatalf("replay: exit %d\n%s", code, lastLines(replay.Output(), 20))
	}
	if done := purgeJSON(t, brokers, "--topic", dead, "--replayed", "--execute", "--yes"); done.Deletes != n {
		t.Errorf("purge after the replay: %d deleted, want all %d", done.Deletes, n)
	}
}

// TestDlqReplayJournalNamesOnlyPublishedRecords: the journal record of a batch is written only
// once the batch is published. A replay whose third record the origin topic refuses (larger
// than its max.message.bytes) stops there; the summary counts the two records before it as
// replayed and the others as never replayed.
func TestDlqReplayJournalNamesOnlyPublishedRecords(t *testing.T) {
	brokers := Brokers(t)
	origin := UniqueName(t, "small")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Client(brokers).CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: origin, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "2048"}},
	}}})
	if err == nil {
		err = res.Errors[origin]
	}
	if err != nil {
		t.Fatalf("create %s: %v", origin, err)
	}
	t.Cleanup(func() {
		_, _ = Client(brokers).DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{origin}})
	})
	dead := NewTopic(t, brokers, 1)
	dropJournal(t, brokers, dead)
	now := time.Now().UTC().Truncate(time.Millisecond)
	big := failed(origin, "big", "rejected", 400, 0, now, 2)
	big.Value = []byte(`{"distinct_id":"big","operations":[{"set":{"pad":"` + strings.Repeat("x", 8000) + `"}}]}`)
	deadLettersTo(t, brokers, dead, 0, nil,
		failed(origin, "s0", "rejected", 400, 0, now, 0),
		failed(origin, "s1", "rejected", 400, 0, now, 1),
		big,
		failed(origin, "s3", "rejected", 400, 0, now, 3))
	code, out := dlqRun(t, brokers, "replay", "--topic", dead, "--reason", "rejected", "--batch-size", "1")
	if code != 1 || !strings.Contains(out, "replayed 2 (rejected 2)") {
		t.Fatalf("replay: exit %d, want 1 after publishing 2\n%s", code, out)
	}
	if n := len(ReadAll(t, brokers, origin)); n != 2 {
		t.Fatalf("origin holds %d records, want the 2 published", n)
	}
	if s := summaryOf(t, brokers, dead); s.Replayed != 2 || s.NeverReplayed != 2 {
		t.Errorf("summary: %+v; want the 2 published replayed, the refused one and the one after it never", s)
	}
}
