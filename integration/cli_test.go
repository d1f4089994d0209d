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
