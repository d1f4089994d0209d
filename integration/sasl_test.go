//go:build integration

package integration

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestSASLEndToEnd: with a config file naming a SCRAM-SHA-512 user and the password only in
// KAFKA_SASL_PASSWORD, `publish`, `run` and `dlq inspect` all work through the broker's SASL
// listener, and none of them prints the password; a wrong password stops `run` with an error
// that says authentication failed, and does not print that password either. PLAIN works too.
func TestSASLEndToEnd(t *testing.T) {
	brokers := Brokers(t)
	saslBrokers := SASLBrokers(t)
	bin := Binary(t, "profile-ingest")
	user, password := "it-"+randomHex(t, 4), "pw-"+randomHex(t, 16)
	AddScramUser(t, brokers, saslBrokers, user, password)
	topic := NewTopic(t, brokers, 3)
	hs, url := newInProcessHubsim(t, hubsim.Faults{})
	dir := t.TempDir()

	config := func(mechanism, user string) string {
		path := filepath.Join(dir, mechanism+".yaml")
		body := fmt.Sprintf(`kafka:
  brokers: [%q]
  topics: [%q]
  group_id: %q
  sasl: {mechanism: %s, username: %q}
suprsend: {base_url: %q, workspace_key: %q}
batch: {linger: 20ms}
observability: {listen: "", log_format: json}
`, saslBrokers[0], topic, UniqueName(t, "g"), mechanism, user, url, testKey)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	scram := config("scram-sha-512", user)
	// KAFKA_BROKERS, which the test runs with, would override the config file's brokers.
	env := []string{"KAFKA_BROKERS=", "KAFKA_SASL_PASSWORD=" + password, "SUPRSEND_WORKSPACE_SECRET=" + testSecret}
	var outputs []string
	runCmd := func(env []string, args ...string) (int, string) {
		t.Helper()
		p := Start(t, env, bin, args...)
		code := p.Wait(2 * time.Minute)
		outputs = append(outputs, p.Output())
		return code, p.Output()
	}

	var lines strings.Builder
	const good = 30
	for i := range good {
		fmt.Fprintf(&lines, `{"distinct_id":"sasl-%d","operations":[{"set":{"n":%d}}],"event_id":"sasl-%d"}`+"\n", i%5, i, i)
	}
	lines.WriteString(`{"distinct_id":"sasl-bad","operations":[{"add_email":"not an email"}]}` + "\n")
	file := filepath.Join(dir, "history.jsonl")
	if err := os.WriteFile(file, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	if code, out := runCmd(env, "publish", "--config", scram, "--allow-invalid", file); code != 0 {
		t.Fatalf("publish over SCRAM exited %d:\n%s", code, out)
	}
	if n := len(ReadAll(t, brokers, topic)); n != good+1 {
		t.Fatalf("%d records on the topic after publish over SCRAM, want %d", n, good+1)
	}
	if code, out := runCmd(env, "run", "--config", scram, "--stop-at-end"); code != 0 {
		t.Fatalf("run over SCRAM exited %d:\n%s", code, out)
	}
	if st := hs.Stats(); st.EventsApplied != good {
		t.Errorf("hubsim applied %d events after run over SCRAM, want %d", st.EventsApplied, good)
	}
	code, out := runCmd(env, "dlq", "inspect", "--config", scram)
	dead := jsonLines(t, out)
	if code != 0 || len(dead) != 1 || dead[0]["key"] != "sasl-bad" || dead[0]["reason"] != "invalid_operation" {
		t.Errorf("dlq inspect over SCRAM: exit %d, want the one invalid_operation dead letter of sasl-bad:\n%s", code, out)
	}

	wrong := "wrong-" + randomHex(t, 16)
	badEnv := []string{"KAFKA_BROKERS=", "KAFKA_SASL_PASSWORD=" + wrong, "SUPRSEND_WORKSPACE_SECRET=" + testSecret}
	code, out = runCmd(badEnv, "run", "--config", scram, "--stop-at-end")
	if code == 0 || !strings.Contains(out, "SASL Authentication Failed") {
		t.Errorf("run with a wrong SASL password: exit %d, want a failure that says SASL authentication failed:\n%s", code, out)
	}
	if strings.Contains(out, wrong) {
		t.Errorf("the wrong SASL password is in run's output:\n%s", out)
	}

	plain := config("plain", "dev")
	plainEnv := []string{"KAFKA_BROKERS=", "KAFKA_SASL_PASSWORD=dev-password"}
	if code, out := runCmd(plainEnv, "publish", "--config", plain, file, "--allow-invalid"); code != 0 {
		t.Fatalf("publish over PLAIN exited %d:\n%s", code, out)
	}
	if n := len(ReadAll(t, brokers, topic)); n != 2*(good+1) {
		t.Errorf("%d records on the topic after a second publish over PLAIN, want %d", n, 2*(good+1))
	}

	for _, o := range outputs {
		if strings.Contains(o, password) || strings.Contains(o, testSecret) {
			t.Errorf("a secret is in a command's output:\n%s", o)
		}
	}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
