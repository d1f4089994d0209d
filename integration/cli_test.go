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
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
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
	for _, cmd := range [][]string{{}, {"run"}, {"explain"}, {"publish"}, {"config", "check"}, {"dlq", "inspect"}, {"dlq", "replay"}, {"version"}} {
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
