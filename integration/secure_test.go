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
	user, password := "it-"+randomHex(t, 4), "pw-"+randomHex(t, 16)
	AddScramUser(t, brokers, saslBrokers, user, password)
	s := newSecureSetup(t, brokers)

	scram := s.config("scram", saslBrokers[0], fmt.Sprintf("sasl: {mechanism: scram-sha-512, username: %q}", user))
	// KAFKA_BROKERS, which the test runs with, would override the config file's brokers.
	env := []string{"KAFKA_BROKERS=", "KAFKA_SASL_PASSWORD=" + password, "SUPRSEND_WORKSPACE_SECRET=" + testSecret}
	s.roundTrip(env, scram, "SCRAM")

	wrong := "wrong-" + randomHex(t, 16)
	badEnv := []string{"KAFKA_BROKERS=", "KAFKA_SASL_PASSWORD=" + wrong, "SUPRSEND_WORKSPACE_SECRET=" + testSecret}
	code, out := s.run(badEnv, "run", "--config", scram, "--stop-at-end")
	if code == 0 || !strings.Contains(out, "SASL Authentication Failed") {
		t.Errorf("run with a wrong SASL password: exit %d, want a failure that says SASL authentication failed:\n%s", code, out)
	}
	if strings.Contains(out, wrong) {
		t.Errorf("the wrong SASL password is in run's output:\n%s", out)
	}

	plain := s.config("plain", saslBrokers[0], "sasl: {mechanism: plain, username: dev}")
	if code, out := s.run([]string{"KAFKA_BROKERS=", "KAFKA_SASL_PASSWORD=dev-password"}, "publish", "--config", plain, s.file, "--allow-invalid"); code != 0 {
		t.Fatalf("publish over PLAIN exited %d:\n%s", code, out)
	}
	if n := len(ReadAll(t, brokers, s.topic)); n != 2*(s.good+1) {
		t.Errorf("%d records on the topic after a second publish over PLAIN, want %d", n, 2*(s.good+1))
	}
	s.noSecretIn(password)
}

// TestTLSEndToEnd: with kafka.tls_ca_file naming the private CA of the brokers' certificate,
// `publish`, `run` and `dlq inspect` all work through the broker's SSL listener; without it the
// certificate is not trusted, and `run` says so.
func TestTLSEndToEnd(t *testing.T) {
	brokers := Brokers(t)
	tlsBrokers, ca := TLSBrokers(t)
	s := newSecureSetup(t, brokers)
	env := []string{"KAFKA_BROKERS=", "SUPRSEND_WORKSPACE_SECRET=" + testSecret}

	s.roundTrip(env, s.config("tls-ca", tlsBrokers[0], fmt.Sprintf("tls_ca_file: %q", ca)), "TLS")

	code, out := s.run(env, "run", "--config", s.config("tls-system-roots", tlsBrokers[0], "tls: true"), "--stop-at-end")
	if code == 0 || !strings.Contains(out, "certificate signed by unknown authority") {
		t.Errorf("run over TLS without the CA: exit %d, want a failure that says the certificate is not trusted:\n%s", code, out)
	}
	s.noSecretIn(testSecret)
}

// TestMutualTLSEndToEnd: with kafka.tls_cert_file and tls_key_file, `publish`, `run` and
// `dlq inspect` work through a listener that requires a client certificate; without them the
// broker refuses the connection, and `run` fails saying so.
func TestMutualTLSEndToEnd(t *testing.T) {
	brokers := Brokers(t)
	mtlsBrokers, ca, cert, key := MTLSBrokers(t)
	s := newSecureSetup(t, brokers)
	env := []string{"KAFKA_BROKERS=", "SUPRSEND_WORKSPACE_SECRET=" + testSecret}

	s.roundTrip(env, s.config("mtls", mtlsBrokers[0],
		fmt.Sprintf("tls_ca_file: %q\n  tls_cert_file: %q\n  tls_key_file: %q", ca, cert, key)), "mutual TLS")

	code, out := s.run(env, "run", "--config", s.config("mtls-no-cert", mtlsBrokers[0], fmt.Sprintf("tls_ca_file: %q", ca)), "--stop-at-end")
	if code == 0 || !strings.Contains(out, "tls: ") {
		t.Errorf("run over mutual TLS without a client certificate: exit %d, want a TLS failure:\n%s", code, out)
	}
}

// secureSetup is a topic, a hubsim and a file of mutations for a test that reaches the broker
// through a secured listener, with config files.
type secureSetup struct {
	t       *testing.T
	brokers []string // plaintext, for the test's own checks
	bin     string
	dir     string
	topic   string
	hs      *Hub
	url     string
	file    string // the mutations: good valid ones, then one invalid
	good    int
	outputs []string
}

func newSecureSetup(t *testing.T, brokers []string) *secureSetup {
	s := &secureSetup{t: t, brokers: brokers, bin: Binary(t, "profile-ingest"), dir: t.TempDir(),
		topic: NewTopic(t, brokers, 3), good: 30}
	s.hs, s.url = newInProcessHubsim(t, hubsim.Faults{})
	var lines strings.Builder
	for i := range s.good {
		fmt.Fprintf(&lines, `{"distinct_id":"sec-%d","operations":[{"set":{"n":%d}}],"event_id":"sec-%d"}`+"\n", i%5, i, i)
	}
	lines.WriteString(`{"distinct_id":"sec-bad","operations":[{"add_email":"not an email"}]}` + "\n")
	s.file = filepath.Join(s.dir, "history.jsonl")
	if err := os.WriteFile(s.file, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// config writes a worker config file reaching broker, with kafkaExtra (a YAML line) added to
// its kafka section.
func (s *secureSetup) config(name, broker, kafkaExtra string) string {
	path := filepath.Join(s.dir, name+".yaml")
	body := fmt.Sprintf(`kafka:
  brokers: [%q]
  topics: [%q]
  group_id: %q
  %s
suprsend: {base_url: %q, workspace_key: %q}
batch: {linger: 20ms}
observability: {listen: "", log_format: json}
`, broker, s.topic, UniqueName(s.t, "g-"+name), kafkaExtra, s.url, testKey)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// run runs profile-ingest to its end and returns its exit status and output.
func (s *secureSetup) run(env []string, args ...string) (int, string) {
	s.t.Helper()
	p := Start(s.t, env, s.bin, args...)
	code := p.Wait(2 * time.Minute)
	s.outputs = append(s.outputs, p.Output())
	return code, p.Output()
}

// roundTrip publishes the file, runs a backfill and inspects the dead letters, all with cfg:
// every good record applied, the invalid one dead-lettered.
func (s *secureSetup) roundTrip(env []string, cfg, how string) {
	t := s.t
	t.Helper()
	if code, out := s.run(env, "publish", "--config", cfg, "--allow-invalid", s.file); code != 0 {
		t.Fatalf("publish over %s exited %d:\n%s", how, code, out)
	}
	if n := len(ReadAll(t, s.brokers, s.topic)); n != s.good+1 {
		t.Fatalf("%d records on the topic after publish over %s, want %d", n, how, s.good+1)
	}
	if code, out := s.run(env, "run", "--config", cfg, "--stop-at-end"); code != 0 {
		t.Fatalf("run over %s exited %d:\n%s", how, code, out)
	}
	if st := s.hs.Stats(); st.EventsApplied != int64(s.good) {
		t.Errorf("hubsim applied %d events after run over %s, want %d", st.EventsApplied, how, s.good)
	}
	code, out := s.run(env, "dlq", "inspect", "--config", cfg)
	dead := jsonLines(t, out)
	if code != 0 || len(dead) != 1 || dead[0]["key"] != "sec-bad" || dead[0]["reason"] != "invalid_operation" {
		t.Errorf("dlq inspect over %s: exit %d, want the one invalid_operation dead letter of sec-bad:\n%s", how, code, out)
	}
}

// noSecretIn fails the test if any command printed secret or the workspace secret.
func (s *secureSetup) noSecretIn(secret string) {
	for _, o := range s.outputs {
		if strings.Contains(o, secret) || strings.Contains(o, testSecret) {
			s.t.Errorf("a secret is in a command's output:\n%s", o)
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
