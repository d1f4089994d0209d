//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/dlq"
	"github.com/profile-ingest/profile-ingest/hubsim"
)

// deadLetters writes recs to the dead-letter topic with the worker's own dlq.Writer, in one
// Write: on a fresh topic some partitions may answer "Not Leader For Partition" at first, and
// the writer must retry only those records (the tests count what arrives exactly).
func deadLetters(t *testing.T, brokers []string, topic string, recs ...dlq.Record) {
	t.Helper()
	w, err := dlq.NewWriter(brokers, dlq.Default(topic), dlq.WithWorkerVersion("profile-ingest/it"),
		dlq.WithLogger(zerolog.New(zerolog.NewTestWriter(t))))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Write(ctx, recs...); err != nil {
		t.Fatal(err)
	}
}

// failed is a dead letter of the record key at origin/offset.
func failed(origin, key, reason string, status, replays int, last time.Time, offset int64) dlq.Record {
	h := []kafka.Header{{Key: "traceparent", Value: []byte("00-" + key + "-01")}}
	if replays > 0 {
		h = append(h, kafka.Header{Key: dlq.HeaderReplayCount, Value: fmt.Append(nil, replays)})
	}
	return dlq.Record{
		Key: []byte(key), Value: fmt.Appendf(nil, `{"distinct_id":%q,"operations":[{"set":{"n":%d}}]}`, key, offset), Headers: h,
		Origin: dlq.Origin{Topic: origin, Partition: 0, Offset: offset, Timestamp: last.Add(-time.Minute).Truncate(time.Millisecond)},
		Reason: reason, Err: reason + " error text", Status: status, Attempts: 1, FirstFailure: last.Add(-time.Second), LastFailure: last,
	}
}

// rejectedDeadLetters writes n rejected dead letters of users user-0… from origin to dead.
func rejectedDeadLetters(t *testing.T, brokers []string, origin, dead string, n int) []dlq.Record {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var recs []dlq.Record
	for i := range n {
		recs = append(recs, failed(origin, fmt.Sprintf("user-%d", i), "rejected", 400, 0, now, int64(i)))
	}
	deadLetters(t, brokers, dead, recs...)
	return recs
}

// dlqRun runs `profile-ingest dlq args...` to its end and returns its exit status and output.
func dlqRun(t *testing.T, brokers []string, args ...string) (int, string) {
	t.Helper()
	args = append(append([]string{"dlq"}, args...), "--brokers", strings.Join(brokers, ","))
	p := Start(t, nil, Binary(t, "profile-ingest"), args...)
	code := p.Wait(2 * time.Minute)
	return code, p.Output()
}

// jsonLines returns the output's lines that are JSON objects (stderr is mixed in).
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestDlqInspect(t *testing.T) {
	brokers := Brokers(t)
	origin := NewTopic(t, brokers, 3)
	dead := NewTopic(t, brokers, 2)
	now := time.Now().UTC().Truncate(time.Millisecond)
	// A foreign record written five hours ago, before the dead letters: --since must seek past it.
	Produce(t, brokers, dead, kafka.Message{Key: []byte("old"), Value: []byte("x"), Time: now.Add(-5 * time.Hour)})
	recs := []dlq.Record{
		failed(origin, "u-1", "rejected", 400, 0, now.Add(-3*time.Hour), 10),
		failed(origin, "u-2", "rejected", 400, 1, now.Add(-10*time.Minute), 11),
		failed(origin, "u-3", "invalid_json", 0, 0, now.Add(-5*time.Minute), 12),
		failed(origin, "u-4", "retries_exhausted", 503, 0, now.Add(-time.Minute), 13),
	}
	deadLetters(t, brokers, dead, recs...)

	code, out := dlqRun(t, brokers, "inspect", "--topic", dead)
	if code != 0 {
		t.Fatalf("inspect exited %d: %s", code, out)
	}
	lines := jsonLines(t, out)
	if len(lines) != 5 {
		t.Fatalf("inspect printed %d lines, want 5 (4 dead letters and the foreign record):\n%s", len(lines), out)
	}
	byKey := map[string]map[string]any{}
	for _, l := range lines {
		byKey[l["key"].(string)] = l
		if _, ok := l["value"]; ok {
			t.Errorf("a value printed without --show-value: %v", l)
		}
	}
	for _, r := range recs {
		l := byKey[string(r.Key)]
		o, _ := l["origin"].(map[string]any)
		if l == nil || l["reason"] != r.Reason || l["status"] != float64(r.Status) || l["error"] != r.Err ||
			o["topic"] != origin || o["offset"] != float64(r.Origin.Offset) ||
			l["last_failure"] != r.LastFailure.Format("2006-01-02T15:04:05.000Z07:00") ||
			l["replay_count"] != float64(dlq.ReplayCount(r.Headers)) || l["value_bytes"] != float64(len(r.Value)) ||
			l["worker_version"] != "profile-ingest/it" || l["attempts"] != float64(1) {
			t.Errorf("dead letter %s printed as %v", r.Key, l)
		}
	}

	code, out = dlqRun(t, brokers, "inspect", "--topic", dead, "--reason", "rejected,retries_exhausted", "--since", "30m", "--show-value")
	lines = jsonLines(t, out)
	if code != 0 || len(lines) != 2 || lines[0]["key"] == lines[1]["key"] {
		t.Fatalf("--reason rejected,retries_exhausted --since 30m: exit %d, %d lines, want u-2 and u-4:\n%s", code, len(lines), out)
	}
	for _, l := range lines {
		k := l["key"].(string)
		if k != "u-2" && k != "u-4" || !strings.Contains(l["value"].(string), `"distinct_id":"`+k+`"`) {
			t.Errorf("filtered line %v, want u-2 or u-4 with its value", l)
		}
	}

	code, out = dlqRun(t, brokers, "inspect", "--topic", dead, "--summary", "--since", "4h")
	if code != 0 {
		t.Fatalf("--summary exited %d: %s", code, out)
	}
	for _, want := range []string{"4 dead letters match (of 4 read)", "rejected           400     2", "retries_exhausted  503     1", origin + "  4"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q (the foreign record before --since must not even be read):\n%s", want, out)
		}
	}

	code, out = dlqRun(t, brokers, "inspect", "--topic", dead, "--partition", "7")
	if code != 1 || !strings.Contains(out, "partition 7: topic "+dead+" has 2 partitions") {
		t.Errorf("--partition 7: exit %d, want 1 naming the partition:\n%s", code, out)
	}
}

func TestDlqReplay(t *testing.T) {
	brokers := Brokers(t)
	origin := NewTopic(t, brokers, 3)
	dead := NewTopic(t, brokers, 2)
	now := time.Now().UTC().Truncate(time.Millisecond)
	var recs []dlq.Record
	for i := range 6 {
		recs = append(recs, failed(origin, fmt.Sprintf("user-%d", i), "rejected", 400, 0, now, int64(i)))
	}
	recs = append(recs,
		failed(origin, "bad-1", "invalid_json", 0, 0, now, 100),
		failed(origin, "bad-2", "invalid_json", 0, 0, now, 101),
		failed(origin, "looped", "rejected", 400, 3, now, 102), // replayed 3 times already
	)
	deadLetters(t, brokers, dead, recs...)
	group := dead + ".replay"

	// Dry run: the histogram, and nothing published or committed.
	code, out := dlqRun(t, brokers, "replay", "--topic", dead, "--reason", "rejected", "--dry-run")
	want := "dry run: would replay 6 (rejected 6), skipped by filter 2 (invalid_json 2), skipped by replay limit 1 (rejected 1)"
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "rejected      400     6         0                  1") {
		t.Fatalf("dry run: exit %d, want 0 and %q:\n%s", code, want, out)
	}
	if n := len(ReadAll(t, brokers, origin)); n != 0 {
		t.Errorf("the dry run published %d records", n)
	}
	if c := CommittedOffsets(t, brokers, group, dead); len(c) != 0 {
		t.Errorf("the dry run committed %v", c)
	}

	// The replay: exactly the matching records, on the partition of their key, unchanged.
	code, out = dlqRun(t, brokers, "replay", "--topic", dead, "--reason", "rejected", "--batch-size", "2")
	want = "replayed 6 (rejected 6), skipped by filter 2 (invalid_json 2), skipped by replay limit 1 (rejected 1)"
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, `(key "looped", reason rejected) was replayed 3 times already`) {
		t.Fatalf("replay: exit %d, want 0, %q and the looped record named:\n%s", code, want, out)
	}
	got := ReadAll(t, brokers, origin)
	if len(got) != 6 {
		t.Fatalf("origin topic holds %d records, want the 6 rejected ones", len(got))
	}
	byKey := map[string]dlq.Record{}
	for _, r := range recs {
		byKey[string(r.Key)] = r
	}
	for _, m := range got {
		r, ok := byKey[string(m.Key)]
		if !ok || r.Reason != "rejected" || string(m.Value) != string(r.Value) {
			t.Errorf("replayed %s = %s: not one of the rejected dead letters, or its value changed", m.Key, m.Value)
			continue
		}
		wantHeaders := []kafka.Header{{Key: dlq.HeaderReplayCount, Value: []byte("1")},
			{Key: dlq.HeaderOriginal, Value: fmt.Appendf(nil, "%s/0/%d", origin, r.Origin.Offset)}, // the first consumption, kept by every copy
			{Key: "traceparent", Value: []byte("00-" + string(m.Key) + "-01")}}
		if fmt.Sprint(m.Headers) != fmt.Sprint(wantHeaders) {
			t.Errorf("replayed %s headers %v, want %v", m.Key, m.Headers, wantHeaders)
		}
		if p := (&kafka.Murmur2Balancer{}).Balance(m, 0, 1, 2); m.Partition != p {
			t.Errorf("replayed %s on partition %d, want %d (murmur2 of the key)", m.Key, m.Partition, p)
		}
		if !m.Time.Equal(r.Origin.Timestamp) {
			t.Errorf("replayed %s with timestamp %s, want the original %s", m.Key, m.Time, r.Origin.Timestamp)
		}
	}
	end, committed := EndOffsets(t, brokers, dead), CommittedOffsets(t, brokers, group, dead)
	for p, e := range end {
		if committed[p] != e {
			t.Errorf("partition %d: group %s committed %d, want the end %d", p, group, committed[p], e)
		}
	}

	// A second run continues where the first stopped: nothing new, nothing again.
	code, out = dlqRun(t, brokers, "replay", "--topic", dead, "--reason", "rejected")
	if code != 0 || !strings.Contains(out, "replayed 0, skipped by filter 0, skipped by replay limit 0") {
		t.Fatalf("second run: exit %d, want 0 and nothing to do:\n%s", code, out)
	}
	// A new dead letter after it: the next run replays only that one.
	deadLetters(t, brokers, dead, failed(origin, "late", "rejected", 400, 1, now, 200))
	code, out = dlqRun(t, brokers, "replay", "--topic", dead, "--reason", "rejected")
	if code != 0 || !strings.Contains(out, "replayed 1 (rejected 1), skipped by filter 0") {
		t.Fatalf("third run: exit %d, want 0 and exactly the new dead letter:\n%s", code, out)
	}
	got = ReadAll(t, brokers, origin)
	if len(got) != 7 || string(got[slices.IndexFunc(got, func(m kafka.Message) bool { return string(m.Key) == "late" })].Headers[0].Value) != "2" {
		t.Errorf("origin topic holds %d records, want 7 with late at replay count 2", len(got))
	}

	// The dead-letter topic itself is unchanged: inspect still shows every dead letter.
	code, out = dlqRun(t, brokers, "inspect", "--topic", dead)
	if n := len(jsonLines(t, out)); code != 0 || n != len(recs)+1 {
		t.Errorf("inspect after the replays: exit %d, %d lines, want %d", code, n, len(recs)+1)
	}
}

func TestDlqReplayStopsAtAMissingOriginTopic(t *testing.T) {
	brokers := Brokers(t)
	origin := NewTopic(t, brokers, 1)
	dead := NewTopic(t, brokers, 1)
	missing := UniqueName(t, "gone")
	now := time.Now().UTC()
	deadLetters(t, brokers, dead,
		failed(origin, "a", "rejected", 400, 0, now, 1),
		failed(missing, "b", "rejected", 400, 0, now, 2),
		failed(origin, "c", "rejected", 400, 0, now, 3),
	)
	code, out := dlqRun(t, brokers, "replay", "--topic", dead, "--dry-run")
	if code != 1 || !strings.Contains(out, missing+" (1 records)") {
		t.Errorf("dry run: exit %d, want 1 naming %s:\n%s", code, missing, out)
	}
	code, out = dlqRun(t, brokers, "replay", "--topic", dead, "--batch-size", "1", "--yes")
	if code != 1 || !strings.Contains(out, "destination topic "+missing+" of dead letter "+dead+"/0 offset 1") || !strings.Contains(out, "pass --to") {
		t.Fatalf("replay: exit %d, want 1 naming %s and the record:\n%s", code, missing, out)
	}
	if c := CommittedOffsets(t, brokers, dead+".replay", dead); c[0] != 1 {
		t.Errorf("committed %d, want 1: past a, not past b", c[0])
	}
	// --to sends the rest somewhere that exists; the run resumes at b.
	code, out = dlqRun(t, brokers, "replay", "--topic", dead, "--to", origin, "--yes")
	if code != 0 || !strings.Contains(out, "replayed 2 (rejected 2)") {
		t.Fatalf("replay --to: exit %d, want 0 and 2 replayed:\n%s", code, out)
	}
	var keys []string
	for _, m := range ReadAll(t, brokers, origin) {
		keys = append(keys, string(m.Key))
	}
	if slices.Sort(keys); fmt.Sprint(keys) != "[a b c]" {
		t.Errorf("origin topic holds %v, want [a b c]", keys)
	}
}

// TestDlqReplaysWithTheSameGroupDoNotOverlap: a second replay started while one runs with the
// same group is refused and publishes nothing, so every dead letter is replayed exactly once;
// once the first has ended, the group is free again.
func TestDlqReplaysWithTheSameGroupDoNotOverlap(t *testing.T) {
	brokers := Brokers(t)
	origin := NewTopic(t, brokers, 3)
	dead := NewTopic(t, brokers, 1)
	const n = 1000
	rejectedDeadLetters(t, brokers, origin, dead, n)
	group := dead + ".replay"

	// One record per batch: a publish and a commit each, so the first replay runs for seconds.
	first := Start(t, nil, Binary(t, "profile-ingest"), "dlq", "replay", "--topic", dead, "--batch-size", "1", "--yes", "--brokers", strings.Join(brokers, ","))
	Eventually(t, time.Minute, "the first replay committing", func() bool { return CommittedOffsets(t, brokers, group, dead)[0] > 0 })
	code, out := dlqRun(t, brokers, "replay", "--topic", dead, "--yes")
	if code != 1 || !strings.Contains(out, "group "+group+" has 1 members") || !strings.Contains(out, "another replay, or a consumer, uses it") {
		t.Errorf("second replay: exit %d, want 1 and the group named in use:\n%s", code, out)
	}
	if first.Exited() {
		t.Fatalf("the first replay ended before the second started; the test proves nothing:\n%s", first.Output())
	}
	if code := first.Wait(2 * time.Minute); code != 0 || !strings.Contains(first.Output(), fmt.Sprintf("replayed %d (rejected %d)", n, n)) {
		t.Fatalf("first replay: exit %d, want 0 and all %d replayed:\n%s", code, n, lastLines(first.Output(), 20))
	}
	if got := len(ReadAll(t, brokers, origin)); got != n {
		t.Errorf("origin topic holds %d records, want each of the %d dead letters once", got, n)
	}
	code, out = dlqRun(t, brokers, "replay", "--topic", dead, "--yes")
	if code != 0 || !strings.Contains(out, "replayed 0, skipped by filter 0") {
		t.Errorf("a replay after the first ended: exit %d, want 0 and nothing left:\n%s", code, out)
	}
}

// TestDlqReplayAsksFirst: a replay of everything, or of a reason that cannot succeed unchanged,
// prints the dry run's numbers and what will only be dead-lettered again, and without a "y"
// publishes and commits nothing (exit 2); --reason rejected does not ask; --yes replays.
func TestDlqReplayAsksFirst(t *testing.T) {
	brokers := Brokers(t)
	origin := NewTopic(t, brokers, 1)
	dead := NewTopic(t, brokers, 1)
	now := time.Now().UTC().Truncate(time.Millisecond)
	deadLetters(t, brokers, dead,
		failed(origin, "a", "rejected", 400, 0, now, 1),
		failed(origin, "b", "retries_exhausted", 503, 0, now, 2),
		failed(origin, "c", "invalid_json", 0, 0, now, 3),
		failed(origin, "d", "too_large", 0, 0, now, 4),
		failed(origin, "e", "invalid_json", 0, 0, now, 5),
	)
	for _, args := range [][]string{{}, {"--reason", "invalid_json"}} {
		code, out := dlqRun(t, brokers, append([]string{"replay", "--topic", dead}, args...)...)
		if code != 2 || !strings.Contains(out, "not confirmed: nothing published, nothing committed (--yes replays without asking)") {
			t.Errorf("replay %v: exit %d, want 2, not confirmed:\n%s", args, code, out)
		}
		if !strings.Contains(out, "dry run: would replay") || !strings.Contains(out, "[y/N]") {
			t.Errorf("replay %v did not show the dry run and ask:\n%s", args, out)
		}
		if len(args) == 0 && !strings.Contains(out, "3 of them will only be dead-lettered again: their message is wrong and is replayed unchanged (invalid_json 2, too_large 1)") {
			t.Errorf("replay of everything does not say which records fail again:\n%s", out)
		}
	}
	if n := len(ReadAll(t, brokers, origin)); n != 0 {
		t.Errorf("unconfirmed replays published %d records", n)
	}
	if c := CommittedOffsets(t, brokers, dead+".replay", dead); len(c) != 0 {
		t.Errorf("unconfirmed replays committed %v", c)
	}
	code, out := dlqRun(t, brokers, "replay", "--topic", dead, "--reason", "rejected,retries_exhausted", "--group", UniqueName(t, "g"))
	if code != 0 || strings.Contains(out, "[y/N]") || !strings.Contains(out, "replayed 2 (rejected 1, retries_exhausted 1)") {
		t.Errorf("a replay of what can succeed asked, or failed: exit %d\n%s", code, out)
	}
	code, out = dlqRun(t, brokers, "replay", "--topic", dead, "--yes")
	if code != 0 || strings.Contains(out, "[y/N]") || !strings.Contains(out, "replayed 5") {
		t.Errorf("--yes: exit %d, want 0, no question, 5 replayed\n%s", code, out)
	}
	if n := len(ReadAll(t, brokers, origin)); n != 7 {
		t.Errorf("origin holds %d records, want 2 + 5", n)
	}
}

// TestDlqReplayInterrupted: Ctrl-C stops a replay after the batch in hand, which it publishes
// and commits; it says how many, truly, and exits 130; the same command resumes and every
// dead letter is published exactly once.
func TestDlqReplayInterrupted(t *testing.T) {
	brokers := Brokers(t)
	origin := NewTopic(t, brokers, 1)
	dead := NewTopic(t, brokers, 1)
	const n = 3000
	recs := rejectedDeadLetters(t, brokers, origin, dead, n)
	group := dead + ".replay"
	args := []string{"dlq", "replay", "--topic", dead, "--reason", "rejected", "--batch-size", "5", "--brokers", strings.Join(brokers, ",")}
	p := Start(t, nil, Binary(t, "profile-ingest"), args...)
	Eventually(t, time.Minute, "the replay publishing", func() bool { return EndOffsets(t, brokers, origin)[0] > 0 })
	p.Signal(syscall.SIGINT)
	if code := p.Wait(time.Minute); code != 130 {
		t.Fatalf("interrupted replay: exit %d, want 130\n%s", code, lastLines(p.Output(), 20))
	}
	var published, committed int64
	i := strings.Index(p.Output(), "interrupted: ")
	if i < 0 {
		t.Fatalf("no interrupted line:\n%s", lastLines(p.Output(), 20))
	}
	if _, err := fmt.Sscanf(p.Output()[i:], "interrupted: %d published, %d committed; run the same command to resume", &published, &committed); err != nil {
		t.Fatalf("interrupted line: %v\n%s", err, lastLines(p.Output(), 20))
	}
	if published == n {
		t.Fatalf("the replay ended before the signal; the test proves nothing")
	}
	if got := EndOffsets(t, brokers, origin)[0]; got != published {
		t.Errorf("it says %d published; the origin topic holds %d", published, got)
	}
	if got := CommittedOffsets(t, brokers, group, dead)[0]; got != committed {
		t.Errorf("it says %d committed; the group committed %d", committed, got)
	}
	code, out := dlqRun(t, brokers, "replay", "--topic", dead, "--reason", "rejected")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("replayed %d (rejected %d)", n-published, n-published)) {
		t.Fatalf("resume: exit %d, want 0 and the %d left\n%s", code, n-published, lastLines(out, 20))
	}
	keys := map[string]int{}
	for _, m := range ReadAll(t, brokers, origin) {
		keys[string(m.Key)]++
	}
	for _, r := range recs {
		if keys[string(r.Key)] != 1 {
			t.Errorf("%s published %d times, want once", r.Key, keys[string(r.Key)])
		}
	}
}

// TestDlqInspectOfATopicWithoutDeadLetters: inspect of a topic whose records carry no
// dead-letter headers says so (exit 2) instead of counting them as dead letters; on a topic
// with both, only the dead letters are counted and the others are reported apart.
func TestDlqInspectOfATopicWithoutDeadLetters(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 1)
	var plain []kafka.Message
	for i := range 3 {
		plain = append(plain, kafka.Message{Key: fmt.Appendf(nil, "u-%d", i), Value: fmt.Appendf(nil, `{"distinct_id":"u-%d","operations":[]}`, i)})
	}
	Produce(t, brokers, topic, plain...)
	for _, args := range [][]string{{"inspect", "--topic", topic}, {"inspect", "--topic", topic, "--summary"}} {
		code, out := dlqRun(t, brokers, args...)
		if code != 2 || !strings.Contains(out, topic+" holds no dead letters: none of the 3 records read carries profile-ingest's dead-letter headers") {
			t.Errorf("%v: exit %d, want 2 saying it holds no dead letters\n%s", args, code, out)
		}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	deadLetters(t, brokers, topic, failed("in", "a", "rejected", 400, 0, now, 1), failed("in", "b", "rejected", 400, 0, now, 2))
	code, out := dlqRun(t, brokers, "inspect", "--topic", topic, "--summary")
	if code != 0 || !strings.Contains(out, "2 dead letters match (of 5 read)") || strings.Contains(out, "(none)") ||
		!strings.Contains(out, "3 of the 5 records read carry no dead-letter headers") {
		t.Errorf("a mixed topic: exit %d\n%s", code, out)
	}
}

// TestDlqReplayLoopGuardCountsPerOriginalRecord: poison records replayed again and again with
// fresh groups, each time through the real worker, are replayed once per round (only the newest
// copy of each original record) and stop at --max-replays: 24 poison records leave 4 × 24 dead
// letters after four rounds, not the 360 a per-copy guard lets through.
func TestDlqReplayLoopGuardCountsPerOriginalRecord(t *testing.T) {
	brokers := Brokers(t)
	bin := Binary(t, "profile-ingest")
	topic := NewTopic(t, brokers, 2)
	group := UniqueName(t, "g")
	const poison = 24
	var msgs []kafka.Message
	for i := range poison {
		id := fmt.Sprintf("poison-%02d", i)
		msgs = append(msgs, kafka.Message{Key: []byte(id), Value: fmt.Appendf(nil, `{"distinct_id":%q,"operations":[{"add_email":"not an email"}]}`, id)})
	}
	Produce(t, brokers, topic, msgs...)
	_, url := newInProcessHubsim(t, hubsim.Faults{})
	work := func(round int) {
		t.Helper()
		w := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url, "--stop-at-end")...)
		if code := w.Wait(2 * time.Minute); code != 0 {
			t.Fatalf("round %d: worker exit %d", round, code)
		}
	}
	count := func(m map[int]int64) (n int64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	work(0)
	for round := 1; round <= 4; round++ {
		code, out := dlqRun(t, brokers, "replay", "--topic", topic+".dlq", "--group", UniqueName(t, fmt.Sprintf("r%d", round)), "--yes")
		want := poison
		if round == 4 {
			want = 0 // the newest copies were replayed 3 times: the loop guard
		}
		if code != 0 || !strings.Contains(out, fmt.Sprintf("replayed %d", want)) {
			t.Fatalf("round %d: exit %d, want %d replayed\n%s", round, code, want, out)
		}
		if round == 4 && !strings.Contains(out, fmt.Sprintf("skipped by replay limit %d", poison)) {
			t.Errorf("round 4 does not report the %d guarded records:\n%s", poison, out)
		}
		if round > 1 && !strings.Contains(out, fmt.Sprintf("superseded by a later copy of the same record %d", poison*(round-1))) {
			t.Errorf("round %d does not report the older copies as superseded:\n%s", round, out)
		}
		work(round)
	}
	if n := count(EndOffsets(t, brokers, topic+".dlq")); n != 4*poison {
		t.Errorf("%d dead letters after four rounds, want %d (24 originals, each replayed 3 times)", n, 4*poison)
	}
	if n := count(EndOffsets(t, brokers, topic)); n != 4*poison {
		t.Errorf("%d records on the origin topic, want %d", n, 4*poison)
	}
}

// TestDlqFilters: --key, --origin-topic and --error select dead letters for inspect and replay;
// a filtered replay publishes exactly those.
func TestDlqFilters(t *testing.T) {
	brokers := Brokers(t)
	a, b := NewTopic(t, brokers, 1), NewTopic(t, brokers, 1)
	dead := NewTopic(t, brokers, 1)
	now := time.Now().UTC().Truncate(time.Millisecond)
	email := failed(a, "u-1", "rejected", 400, 0, now, 1)
	email.Err = `operations[0].add_email: "x" is Not A Valid Email`
	deadLetters(t, brokers, dead, email,
		failed(a, "u-2", "rejected", 400, 0, now, 2),
		failed(b, "u-1", "rejected", 400, 0, now, 3),
		failed(b, "u-3", "retries_exhausted", 503, 0, now, 4))
	keys := func(out string) []string {
		var ks []string
		for _, l := range jsonLines(t, out) {
			o := l["origin"].(map[string]any)
			ks = append(ks, fmt.Sprintf("%s@%v", l["key"], o["offset"]))
		}
		slices.Sort(ks)
		return ks
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--key", "u-1"}, "[u-1@1 u-1@3]"},
		{[]string{"--origin-topic", b}, "[u-1@3 u-3@4]"},
		{[]string{"--error", "not a valid email"}, "[u-1@1]"},
		{[]string{"--key", "u-1,u-3", "--origin-topic", b, "--reason", "retries_exhausted"}, "[u-3@4]"},
	} {
		code, out := dlqRun(t, brokers, append([]string{"inspect", "--topic", dead}, tc.args...)...)
		if got := fmt.Sprint(keys(out)); code != 0 || got != tc.want {
			t.Errorf("inspect %v: exit %d, %s, want %s\n%s", tc.args, code, got, tc.want, out)
		}
	}
	code, out := dlqRun(t, brokers, "replay", "--topic", dead, "--reason", "rejected", "--origin-topic", b, "--key", "u-1")
	if code != 0 || !strings.Contains(out, "replayed 1 (rejected 1), skipped by filter 3") {
		t.Fatalf("filtered replay: exit %d\n%s", code, out)
	}
	if got, other := ReadAll(t, brokers, b), ReadAll(t, brokers, a); len(got) != 1 || string(got[0].Key) != "u-1" || len(other) != 0 {
		t.Errorf("the filtered replay published %d records to %s (want u-1 only) and %d to %s", len(got), b, len(other), a)
	}
}

// TestDlqReplaysIntoOneTopicDoNotOverlap: while a replay publishes to a topic, a second replay
// into the same topic under another group is refused, naming the first, and publishes nothing;
// every dead letter reaches the topic once.
func TestDlqReplaysIntoOneTopicDoNotOverlap(t *testing.T) {
	brokers := Brokers(t)
	origin := NewTopic(t, brokers, 1)
	dead := NewTopic(t, brokers, 1)
	const n = 600
	rejectedDeadLetters(t, brokers, origin, dead, n)
	firstGroup := UniqueName(t, "first")
	first := Start(t, nil, Binary(t, "profile-ingest"), "dlq", "replay", "--topic", dead, "--reason", "rejected", "--group", firstGroup,
		"--batch-size", "1", "--brokers", strings.Join(brokers, ","))
	Eventually(t, time.Minute, "the first replay publishing", func() bool { return EndOffsets(t, brokers, origin)[0] > 0 })
	code, out := dlqRun(t, brokers, "replay", "--topic", dead, "--reason", "rejected", "--group", UniqueName(t, "second"))
	if code != 1 || !strings.Contains(out, "another replay publishes to "+origin+" now") || !strings.Contains(out, "profile-ingest-replay:"+firstGroup) {
		t.Errorf("second replay under another group: exit %d, want 1 naming the first replay's group:\n%s", code, out)
	}
	if first.Exited() {
		t.Fatalf("the first replay ended before the second started; the test proves nothing:\n%s", first.Output())
	}
	if code := first.Wait(3 * time.Minute); code != 0 {
		t.Fatalf("first replay: exit %d\n%s", code, lastLines(first.Output(), 20))
	}
	if got := len(ReadAll(t, brokers, origin)); got != n {
		t.Errorf("origin topic holds %d records, want each of the %d dead letters once", got, n)
	}
}

// TestDlqReplayStatusAndRewind: --status shows the replay group's cursor and, by reason, what a
// filtered run left behind it; offsets reset rewinds the cursor to the start, and a run with
// the same group then replays what the filter had skipped.
func TestDlqReplayStatusAndRewind(t *testing.T) {
	brokers := Brokers(t)
	origin := NewTopic(t, brokers, 1)
	dead := NewTopic(t, brokers, 1)
	now := time.Now().UTC().Truncate(time.Millisecond)
	deadLetters(t, brokers, dead,
		failed(origin, "a", "rejected", 400, 0, now, 1),
		failed(origin, "b", "retries_exhausted", 503, 0, now, 2),
		failed(origin, "c", "retries_exhausted", 503, 0, now, 3))
	group := dead + ".replay"
	code, out := dlqRun(t, brokers, "replay", "--topic", dead, "--status")
	if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), " "), "AHEAD 0 - (no commit: the log start) 3 0 3") ||
		!strings.Contains(out, "retries_exhausted  0                  2") {
		t.Fatalf("status before any replay: exit %d\n%s", code, out)
	}
	if code, out = dlqRun(t, brokers, "replay", "--topic", dead, "--reason", "rejected"); code != 0 {
		t.Fatalf("replay: exit %d\n%s", code, out)
	}
	code, out = dlqRun(t, brokers, "replay", "--topic", dead, "--status")
	if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), " "), "AHEAD 0 3 3 3 0") ||
		!strings.Contains(out, "retries_exhausted  2                  0") || !strings.Contains(out, "rewind: profile-ingest offsets reset --group "+group) {
		t.Fatalf("status after a filtered replay: exit %d\n%s", code, out)
	}
	p := Start(t, nil, Binary(t, "profile-ingest"), "offsets", "reset", "--brokers", strings.Join(brokers, ","), "--group", group, "--topic", dead, "--to-earliest", "--execute")
	if code := p.Wait(time.Minute); code != 0 {
		t.Fatalf("rewind: exit %d\n%s", code, p.Output())
	}
	code, out = dlqRun(t, brokers, "replay", "--topic", dead, "--reason", "retries_exhausted")
	if code != 0 || !strings.Contains(out, "replayed 2 (retries_exhausted 2)") {
		t.Fatalf("replay after the rewind: exit %d\n%s", code, out)
	}
	if n := len(ReadAll(t, brokers, origin)); n != 3 {
		t.Errorf("origin holds %d records, want 3", n)
	}
}

// TestDlqSummaryJSON: inspect --summary --json gives scripts the counts by reason and status,
// the top keys and the top errors (quoted values elided, so one kind of error counts together).
func TestDlqSummaryJSON(t *testing.T) {
	brokers := Brokers(t)
	dead := NewTopic(t, brokers, 1)
	now := time.Now().UTC().Truncate(time.Millisecond)
	var recs []dlq.Record
	for i, key := range []string{"u-1", "u-1", "u-2"} {
		r := failed("in", key, "rejected", 400, 0, now, int64(i))
		r.Err = fmt.Sprintf(`operations[0].add_email: "bad-%d" is not a valid email`, i)
		recs = append(recs, r)
	}
	deadLetters(t, brokers, dead, append(recs, failed("in", "u-3", "retries_exhausted", 503, 0, now, 9))...)
	code, out := dlqRun(t, brokers, "inspect", "--topic", dead, "--summary", "--json")
	var s struct {
		DeadLetters int `json:"dead_letters"`
		ByReason    []struct {
			Reason string
			Status int
			Count  int
		} `json:"by_reason"`
		TopKeys []struct {
			Name  string
			Count int
		} `json:"top_keys"`
		TopErrors []struct {
			Name  string
			Count int
		} `json:"top_errors"`
	}
	if err := json.Unmarshal([]byte(out), &s); code != 0 || err != nil {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	if s.DeadLetters != 4 || len(s.ByReason) != 2 || s.ByReason[0].Reason != "rejected" || s.ByReason[0].Count != 3 ||
		len(s.TopKeys) != 3 || s.TopKeys[0].Name != "u-1" || s.TopKeys[0].Count != 2 ||
		len(s.TopErrors) != 2 || s.TopErrors[0].Name != `operations[0].add_email: "…" is not a valid email` || s.TopErrors[0].Count != 3 {
		t.Errorf("summary %+v\n%s", s, out)
	}

	to := NewTopic(t, brokers, 1)
	code, out = dlqRun(t, brokers, "replay", "--topic", dead, "--reason", "rejected", "--to", to, "--json")
	var rep struct {
		Totals        struct{ Replayed int } `json:"totals"`
		ByDestination map[string]int         `json:"by_destination"`
		End           map[string]int64       `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || rep.Totals.Replayed != 3 || rep.ByDestination[to] != 3 || rep.End["0"] != 4 {
		t.Errorf("replay --json: exit %d, %v, %+v\n%s", code, err, rep, out)
	}
}
