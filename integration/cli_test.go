//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// topicExists asks the brokers whether topic exists.
func topicExists(t *testing.T, brokers []string, topic string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := Client(brokers).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	return len(md.Topics) == 1 && !errors.Is(md.Topics[0].Error, kafka.UnknownTopicOrPartition) && md.Topics[0].Error == nil
}

// writeFile writes body to name in a temporary directory and returns the path.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigCheck: `config check` finds offline every mistake `run` would refuse, naming the
// YAML path and the line (or the flag), exit 2; `run` refuses the same file with the same words
// before it connects (it creates no dead-letter topic); a valid configuration prints with its
// secret redacted, and run starts with it.
func TestConfigCheck(t *testing.T) {
	brokers := Brokers(t)
	bin := Binary(t, "profile-ingest")
	topic := NewTopic(t, brokers, 1)
	env := []string{"SUPRSEND_WORKSPACE_SECRET=" + testSecret, "KAFKA_BROKERS=", "PROFILE_INGEST_CONFIG="}
	header := fmt.Sprintf("kafka:\n  brokers: [%q]\n  topics: [%q]\n  group_id: %q\nsuprsend:\n  workspace_key: %s\n  base_url: http://%s/\n",
		brokers[0], topic, UniqueName(t, "g"), testKey, freeAddr(t))

	t.Run("checks that waited for Kafka run offline, with the line", func(t *testing.T) {
		path := writeFile(t, "bad.yaml", header+"consumer:\n  stop_at_end: true\nobservability:\n  listen: \"\"\n"+
			"kafka:\n  fetch_max_bytes: -5\n  heartbeat_interval: 20s\n")
		// a second "kafka:" section would silently replace the first
		p := Start(t, env, bin, "config", "check", "--config", path)
		if code := p.Wait(time.Minute); code != 2 {
			t.Fatalf("config check exit %d, want 2\n%s", code, p.Output())
		}
		if !strings.Contains(p.Output(), "config: kafka ("+path+" line 12): is written twice (first at line 1)") {
			t.Errorf("a duplicate section is not named:\n%s", p.Output())
		}
		path = writeFile(t, "bad.yaml", strings.Replace(header, "kafka:\n", "kafka:\n  fetch_max_bytes: -5\n  heartbeat_interval: 20s\n", 1)+
			"consumer:\n  stop_at_end: true\nobservability:\n  listen: \"\"\n")
		want := []string{
			"config: kafka.fetch_max_bytes -5 (" + path + " line 2): must be positive",
			"config: kafka.heartbeat_interval 20s (" + path + " line 3): must be below kafka.session_timeout 10s",
		}
		for _, args := range [][]string{{"config", "check", "--config", path}, {"run", "--config", path}} {
			p := Start(t, env, bin, args...)
			if code := p.Wait(time.Minute); code != 2 {
				t.Fatalf("%s exit %d, want 2\n%s", args[0], code, p.Output())
			}
			for _, w := range want {
				if !strings.Contains(p.Output(), w) {
					t.Errorf("%s does not say %q:\n%s", strings.Join(args[:len(args)-2], " "), w, p.Output())
				}
			}
		}
		if topicExists(t, brokers, topic+".dlq") {
			t.Errorf("run connected and created %s.dlq before refusing its configuration", topic)
		}
	})

	t.Run("mistakes in the file are named in the user's terms", func(t *testing.T) {
		path := writeFile(t, "typos.yaml", "kafka:\n  brokers: 127.0.0.1:9092\n  topics: [in]\n\n\n\n  grup_id: g\nbatch:\n  linger: 100\n")
		p := Start(t, env, bin, "config", "check", "--config", path)
		if code := p.Wait(time.Minute); code != 2 {
			t.Fatalf("exit %d, want 2\n%s", code, p.Output())
		}
		for _, w := range []string{
			`kafka.brokers "127.0.0.1:9092" (` + path + ` line 2): must be a list, such as ["127.0.0.1:9092"]`,
			"kafka.grup_id (" + path + " line 7): is not a field; did you mean group_id?",
			"batch.linger 100 (" + path + ` line 9): must be a duration with its unit, such as "100ms"`,
		} {
			if !strings.Contains(p.Output(), w) {
				t.Errorf("output does not say %q:\n%s", w, p.Output())
			}
		}
		if strings.Contains(p.Output(), "json:") || strings.Contains(p.Output(), "Go struct") {
			t.Errorf("the error speaks Go:\n%s", p.Output())
		}
	})

	t.Run("a broker that is not host:port and a zero flag are refused before any connection", func(t *testing.T) {
		args := workerArgs(brokers, topic, UniqueName(t, "g"), "http://"+freeAddr(t)+"/", "--stop-at-end")
		for _, tc := range []struct {
			extra []string
			want  string
		}{
			{[]string{"--brokers", "127.0.0.1"}, `config: kafka.brokers[0] "127.0.0.1" (--brokers): must be host:port`},
			{[]string{"--linger", "0s"}, "config: batch.linger 0s (--linger): must be positive"},
			{[]string{"--max-in-flight", "0"}, "config: sender.max_in_flight 0 (--max-in-flight): must be 1..64"},
		} {
			a := append([]string(nil), args...)
			if tc.extra[0] == "--brokers" {
				a[2] = tc.extra[1] // workerArgs gives --brokers first
				tc.extra = nil
			}
			p := Start(t, workerEnv, bin, append(a, tc.extra...)...)
			if code := p.Wait(time.Minute); code != 2 {
				t.Errorf("run: exit %d, want 2\n%s", code, p.Output())
			}
			if !strings.Contains(p.Output(), tc.want) {
				t.Errorf("run does not say %q:\n%s", tc.want, p.Output())
			}
		}
		if topicExists(t, brokers, topic+".dlq") {
			t.Errorf("a refused run created %s.dlq", topic)
		}
	})

	t.Run("a valid configuration prints redacted, and run starts with it", func(t *testing.T) {
		path := writeFile(t, "good.yaml", header+"consumer:\n  stop_at_end: true\nobservability:\n  listen: \"\"\n")
		p := Start(t, env, bin, "config", "check", "--config", path)
		if code := p.Wait(time.Minute); code != 0 {
			t.Fatalf("exit %d, want 0\n%s", code, p.Output())
		}
		if strings.Contains(p.Output(), testSecret) || !strings.Contains(p.Output(), "suprsend.workspace_secret: [REDACTED] from the environment variable SUPRSEND_WORKSPACE_SECRET") {
			t.Errorf("the secret is not redacted, or its source not said:\n%s", p.Output())
		}
		if !strings.Contains(p.Output(), "  - "+topic) || !strings.Contains(p.Output(), "linger: 100ms") {
			t.Errorf("the effective configuration (file and defaults) is not printed:\n%s", p.Output())
		}
		j := Start(t, env, bin, "config", "check", "--config", path, "--json")
		if code := j.Wait(time.Minute); code != 0 {
			t.Fatalf("--json exit %d, want 0\n%s", code, j.Output())
		}
		var report struct {
			Valid  bool
			Config struct{ Kafka struct{ Topics []string } }
		}
		if err := json.Unmarshal([]byte(j.Output()), &report); err != nil || !report.Valid || len(report.Config.Kafka.Topics) != 1 || report.Config.Kafka.Topics[0] != topic {
			t.Errorf("--json: %v, %+v\n%s", err, report, j.Output())
		}
		w := Start(t, env, bin, "run", "--config", path)
		if code := w.Wait(2 * time.Minute); code != 0 {
			t.Fatalf("run with the checked configuration exit %d, want 0\n%s", code, w.Output())
		}
	})
}

// exitTableHead is the first line of the exit-code table every --help ends with.
const exitTableHead = "Exit status (the same table for every command):"

// TestExitCodesAndHelp: every command's --help, and `help <command>`, end with the one exit-code
// table; a missing input file is exit 2 for explain and publish alike, with nothing published;
// a negative --partitions is refused (2), not ignored.
func TestExitCodesAndHelp(t *testing.T) {
	brokers := Brokers(t)
	bin := Binary(t, "profile-ingest")
	for _, cmd := range [][]string{{}, {"run"}, {"explain"}, {"publish"}, {"config", "check"}, {"dlq", "inspect"}, {"dlq", "replay"}, {"dlq", "purge"}, {"version"}} {
		for _, args := range [][]string{append(append([]string{}, cmd...), "--help"), append([]string{"help"}, cmd...)} {
			p := Start(t, nil, bin, args...)
			if code := p.Wait(time.Minute); code != 0 {
				t.Errorf("%s: exit %d, want 0\n%s", strings.Join(args, " "), code, p.Output())
			}
			for _, w := range []string{exitTableHead, "  2  bad flags, configuration or input file", "  4  run: the shutdown drain"} {
				if !strings.Contains(p.Output(), w) {
					t.Errorf("%s does not end with the exit table (%q):\n%s", strings.Join(args, " "), w, p.Output())
				}
			}
		}
	}
	if p := Start(t, nil, bin, "help", "no-such-command"); p.Wait(time.Minute) != 2 {
		t.Errorf("help of a command that does not exist: want exit 2\n%s", p.Output())
	}

	topic := NewTopic(t, brokers, 1)
	good := writeFile(t, "good.jsonl", `{"distinct_id":"u-1","operations":[{"set":{"n":1}}]}`+"\n")
	missing := filepath.Join(t.TempDir(), "missing.jsonl")
	for _, args := range [][]string{
		{"explain", good, missing},
		{"publish", "--brokers", strings.Join(brokers, ","), "--topic", topic, good, missing},
		{"publish", "--brokers", strings.Join(brokers, ","), "--topic", topic, "--allow-invalid", good, missing},
	} {
		p := Start(t, nil, bin, args...)
		if code := p.Wait(time.Minute); code != 2 {
			t.Errorf("%s with a missing file: exit %d, want 2\n%s", args[0], code, p.Output())
		}
		if !strings.Contains(p.Output(), missing+": no such file or directory") {
			t.Errorf("%s does not name the missing file:\n%s", args[0], p.Output())
		}
		if strings.Contains(p.Output(), `"line":1`) {
			t.Errorf("%s explained the good file before refusing the missing one:\n%s", args[0], p.Output())
		}
	}
	if n := len(ReadAll(t, brokers, topic)); n != 0 {
		t.Errorf("%d records published by a command refused for a missing file", n)
	}
	fresh := UniqueName(t, "t")
	p := Start(t, nil, bin, "publish", "--brokers", strings.Join(brokers, ","), "--topic", fresh, "--partitions=-3", good)
	if code := p.Wait(time.Minute); code != 2 || !strings.Contains(p.Output(), "--partitions -3: must be positive") {
		t.Errorf("--partitions=-3: exit %d, want 2 naming the flag\n%s", code, p.Output())
	}
	if topicExists(t, brokers, fresh) {
		t.Errorf("--partitions=-3 created %s", fresh)
	}
}

// groupStatus runs `status --json` and decodes it.
type statusJSON struct {
	Group   string
	State   string
	Members []struct {
		ID         string
		ClientID   string `json:"client_id"`
		Partitions []string
	}
	Partitions []struct {
		Topic                 string
		Partition             int
		Member                string
		Committed, Start, End int64
		Lag                   int64
		NextTimestamp         *time.Time `json:"next_timestamp"`
		LagSeconds            float64    `json:"lag_seconds"`
	}
	Totals struct {
		Partitions, Uncommitted int
		Lag                     int64
		MaxLagSeconds           float64 `json:"max_lag_seconds"`
	}
}

func groupStatus(t *testing.T, bin string, brokers []string, group, topic string) statusJSON {
	t.Helper()
	p := Start(t, nil, bin, "status", "--brokers", strings.Join(brokers, ","), "--group", group, "--topic", topic, "--json")
	if code := p.Wait(time.Minute); code != 0 {
		t.Fatalf("status exit %d\n%s", code, p.Output())
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(p.Output()), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, p.Output())
	}
	return st
}

// commitAsAdmin commits offsets for group from outside it, as an admin tool does.
func commitAsAdmin(t *testing.T, brokers []string, group, topic string, offsets map[int]int64) {
	t.Helper()
	req := &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{}}
	for p, o := range offsets {
		req.Topics[topic] = append(req.Topics[topic], kafka.OffsetCommit{Partition: p, Offset: o})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Client(brokers).OffsetCommit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				t.Fatal(p.Error)
			}
		}
	}
}

// historyTopic writes n records per user with record times a minute apart from base and
// returns them as read back (partition, offset, time).
func historyTopic(t *testing.T, brokers []string, n int, base time.Time) (string, []kafka.Message) {
	t.Helper()
	topic := NewTopic(t, brokers, 2)
	var msgs []kafka.Message
	for i := range n {
		id := fmt.Sprintf("u-%d", i%7)
		msgs = append(msgs, kafka.Message{Key: []byte(id), Time: base.Add(time.Duration(i) * time.Minute),
			Value: fmt.Appendf(nil, `{"distinct_id":%q,"operations":[{"set":{"n":%d}}]}`, id, i)})
	}
	Produce(t, brokers, topic, msgs...)
	return topic, ReadAll(t, brokers, topic)
}

// recordAt finds the record at partition/offset.
func recordAt(t *testing.T, recs []kafka.Message, partition int, offset int64) kafka.Message {
	t.Helper()
	for _, r := range recs {
		if r.Partition == partition && r.Offset == offset {
			return r
		}
	}
	t.Fatalf("no record at %d/%d", partition, offset)
	return kafka.Message{}
}

// TestStatus: `status` reads a group's state from the brokers alone: per partition the
// committed offset, the end, the lag in records and in time (from the timestamp of the next
// record the group would consume), totals; and, while a real worker runs, its member and the
// partitions it holds.
func TestStatus(t *testing.T) {
	brokers := Brokers(t)
	bin := Binary(t, "profile-ingest")
	base := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
	topic, recs := historyTopic(t, brokers, 40, base)
	end := EndOffsets(t, brokers, topic)
	if end[0] < 4 || end[1] < 1 {
		t.Fatalf("the keys did not spread over both partitions: %v", end)
	}
	group := UniqueName(t, "g")
	commitAsAdmin(t, brokers, group, topic, map[int]int64{0: 3})

	st := groupStatus(t, bin, brokers, group, topic)
	if len(st.Members) != 0 || len(st.Partitions) != 2 {
		t.Fatalf("status: %+v", st)
	}
	p0, p1 := st.Partitions[0], st.Partitions[1]
	next := recordAt(t, recs, 0, 3).Time
	if p0.Committed != 3 || p0.End != end[0] || p0.Lag != end[0]-3 || p0.NextTimestamp == nil || !p0.NextTimestamp.Equal(next) {
		t.Errorf("partition 0: %+v; want committed 3, end %d, lag %d, next record written %s", p0, end[0], end[0]-3, next)
	}
	if p0.LagSeconds < time.Since(next).Seconds()-600 || p0.LagSeconds > time.Since(next).Seconds() {
		t.Errorf("partition 0: lag %.0fs; the next record was written %.0fs ago", p0.LagSeconds, time.Since(next).Seconds())
	}
	first1 := recordAt(t, recs, 1, 0).Time
	if p1.Committed != -1 || p1.Lag != end[1] || p1.NextTimestamp == nil || !p1.NextTimestamp.Equal(first1) {
		t.Errorf("partition 1 without a commit: %+v; want committed -1, lag %d from the log start, next %s", p1, end[1], first1)
	}
	if st.Totals.Lag != p0.Lag+p1.Lag || st.Totals.Partitions != 2 || st.Totals.Uncommitted != 1 ||
		st.Totals.MaxLagSeconds != max(p0.LagSeconds, p1.LagSeconds) {
		t.Errorf("totals %+v do not add up", st.Totals)
	}
	text := Start(t, nil, bin, "status", "--brokers", strings.Join(brokers, ","), "--group", group, "--topic", topic)
	if code := text.Wait(time.Minute); code != 0 || !strings.Contains(text.Output(), fmt.Sprintf("total: 2 partitions, lag %d records", st.Totals.Lag)) {
		t.Errorf("status table: exit %d\n%s", code, text.Output())
	}

	// A running worker: its member holds both partitions; it consumes everything, and the lag
	// reaches 0.
	hub, url := newInProcessHubsim(t, hubsim.Faults{})
	w := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url)...)
	Eventually(t, 2*time.Minute, "status shows the worker's member holding both partitions, lag 0", func() bool {
		st = groupStatus(t, bin, brokers, group, topic)
		return len(st.Members) == 1 && len(st.Members[0].Partitions) == 2 && st.Totals.Lag == 0 &&
			st.Partitions[0].Member == st.Members[0].ID && st.Partitions[1].Member == st.Members[0].ID
	})
	if st.State != "Stable" || st.Partitions[0].NextTimestamp != nil || st.Totals.MaxLagSeconds != 0 {
		t.Errorf("caught up: %+v", st)
	}
	if got := hub.Stats().EventsApplied; got != int64(len(recs)-3) {
		t.Errorf("the worker applied %d events, want the %d after the commit", got, len(recs)-3)
	}
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(time.Minute); code != 0 {
		t.Fatalf("worker exit %d", code)
	}
}

// TestOffsetsReset: `offsets reset` prints before/after per partition and commits only with
// --execute; it moves to the start, the end, a time, or one partition's offset; while a real
// worker is a member it refuses, naming the member, and commits nothing; once the worker has
// stopped, a reset to a time makes the group replay from there.
func TestOffsetsReset(t *testing.T) {
	brokers := Brokers(t)
	bin := Binary(t, "profile-ingest")
	base := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	topic, recs := historyTopic(t, brokers, 40, base)
	end := EndOffsets(t, brokers, topic)
	group := UniqueName(t, "g")
	commitAsAdmin(t, brokers, group, topic, map[int]int64{0: 2, 1: 1})
	reset := func(args ...string) (int, string) {
		p := Start(t, nil, bin, append([]string{"offsets", "reset", "--brokers", strings.Join(brokers, ","), "--group", group, "--topic", topic}, args...)...)
		code := p.Wait(time.Minute)
		return code, p.Output()
	}
	committed := func() map[int]int64 { return CommittedOffsets(t, brokers, group, topic) }
	same := func(a, b map[int]int64) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

	code, out := reset("--to-earliest")
	if code != 0 || !strings.Contains(out, "dry run: nothing committed") || !same(committed(), map[int]int64{0: 2, 1: 1}) {
		t.Fatalf("a dry run: exit %d, committed %v\n%s", code, committed(), out)
	}
	if !strings.Contains(out, fmt.Sprintf("%s  0          2       0      -2", topic)) {
		t.Errorf("the dry run does not print before/after/move of partition 0:\n%s", out)
	}
	if code, out = reset("--to-earliest", "--execute"); code != 0 || !same(committed(), map[int]int64{0: 0, 1: 0}) {
		t.Errorf("--to-earliest --execute: exit %d, committed %v\n%s", code, committed(), out)
	}
	if code, out = reset("--to-latest", "--execute"); code != 0 || !same(committed(), end) {
		t.Errorf("--to-latest --execute: exit %d, committed %v, want %v\n%s", code, committed(), end, out)
	}
	if code, out = reset("--to-offset", "1:1", "--execute"); code != 0 || !same(committed(), map[int]int64{0: end[0], 1: 1}) {
		t.Errorf("--to-offset 1:1: exit %d, committed %v; only partition 1 moves\n%s", code, committed(), out)
	}
	for _, bad := range [][]string{{"--to-offset", "1:99999", "--execute"}, {"--to-offset", "7:0"}, {"--to-earliest", "--to-latest"}, {"--to-time", "yesterday"}, {"--dry-run", "--execute", "--to-latest"}} {
		if code, out := reset(bad...); code != 2 {
			t.Errorf("offsets reset %s: exit %d, want 2\n%s", strings.Join(bad, " "), code, out)
		}
	}

	// Records written at or after from: 20 minutes into the history.
	from := base.Add(20 * time.Minute)
	want := map[int]int64{}
	for _, r := range recs {
		if o, ok := want[r.Partition]; !r.Time.Before(from) && (!ok || r.Offset < o) {
			want[r.Partition] = r.Offset
		}
	}
	hub, url := newInProcessHubsim(t, hubsim.Faults{})
	w := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url)...)
	Eventually(t, 2*time.Minute, "the worker joins the group", func() bool {
		return len(groupStatus(t, bin, brokers, group, topic).Members) == 1
	})
	member := groupStatus(t, bin, brokers, group, topic).Members[0].ID
	before := committed()
	code, out = reset("--to-time", from.Format(time.RFC3339), "--execute")
	if code != 1 || !strings.Contains(out, "has 1 members: "+member) {
		t.Errorf("a reset while a worker runs: exit %d, want 1 naming the member %s\n%s", code, member, out)
	}
	if !same(committed(), before) {
		t.Errorf("a refused reset moved the offsets: %v, was %v", committed(), before)
	}
	code, out = reset("--to-time", from.Format(time.RFC3339))
	if code != 0 || !strings.Contains(out, "dry run: --execute would be refused now") {
		t.Errorf("a dry run while a worker runs: exit %d\n%s", code, out)
	}
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(time.Minute); code != 0 {
		t.Fatalf("worker exit %d", code)
	}
	Eventually(t, time.Minute, "the group is empty", func() bool { return len(groupStatus(t, bin, brokers, group, topic).Members) == 0 })
	if code, out = reset("--to-time", from.Format(time.RFC3339), "--execute"); code != 0 || !same(committed(), want) {
		t.Fatalf("--to-time %s --execute: exit %d, committed %v, want %v\n%s", from.Format(time.RFC3339), code, committed(), want, out)
	}
	applied := hub.Stats().EventsApplied + hub.Stats().Duplicates
	w = Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url, "--stop-at-end")...)
	if code := w.Wait(2 * time.Minute); code != 0 {
		t.Fatalf("replaying worker exit %d", code)
	}
	if got, n := hub.Stats().EventsApplied+hub.Stats().Duplicates-applied, int64(len(recs)-20); got != n {
		t.Errorf("after the reset the worker sent %d events, want the %d written from %s on", got, n, from)
	}
}

// TestPublishTwiceAppliesOnce: a backfill file published twice (a re-run after a failure) is
// applied once: each line without an event_id gets the same derived one both times, so the API
// deduplicates the second copy and increment/append are not applied twice; two identical lines
// stay two mutations. --no-event-ids publishes lines unchanged, and a repeat then applies twice.
func TestPublishTwiceAppliesOnce(t *testing.T) {
	brokers := Brokers(t)
	bin := Binary(t, "profile-ingest")
	file := writeFile(t, "backfill.jsonl", `{"distinct_id":"u-1","operations":[{"increment":{"logins":1}}]}
{"distinct_id":"u-1","operations":[{"increment":{"logins":1}}]}
{"distinct_id":"u-1","operations":[{"append":{"tags":"a"}}],"event_id":"given-1"}
{"distinct_id":"u-2","operations":[{"increment":{"logins":5}}]}
`)
	for _, tc := range []struct {
		name        string
		extra       []string
		wantLogins  float64
		wantApplied int64
	}{
		{"derived event ids", nil, 2, 4},
		{"--no-event-ids", []string{"--no-event-ids"}, 4, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := NewTopic(t, brokers, 2)
			for run := range 2 {
				p := Start(t, nil, bin, append([]string{"publish", "--brokers", strings.Join(brokers, ","), "--topic", topic, file}, tc.extra...)...)
				if code := p.Wait(time.Minute); code != 0 {
					t.Fatalf("publish %d: exit %d\n%s", run, code, p.Output())
				}
			}
			var values []string
			for _, m := range ReadAll(t, brokers, topic) {
				values = append(values, string(m.Value))
			}
			hub, url := newInProcessHubsim(t, hubsim.Faults{})
			w := Start(t, workerEnv, bin, workerArgs(brokers, topic, UniqueName(t, "g"), url, "--stop-at-end")...)
			if code := w.Wait(2 * time.Minute); code != 0 {
				t.Fatalf("worker exit %d", code)
			}
			u1, _ := hub.Profile("u-1")
			if got := u1.Properties["logins"]; got != tc.wantLogins {
				t.Errorf("u-1 logins = %v, want %v (values %q)", got, tc.wantLogins, values)
			}
			if st := hub.Stats(); st.EventsApplied != tc.wantApplied {
				t.Errorf("%d events applied (%d duplicates), want %d", st.EventsApplied, st.Duplicates, tc.wantApplied)
			}
		})
	}
}
