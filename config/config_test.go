package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleFileLoadsAsTheDefaults(t *testing.T) {
	t.Setenv("SUPRSEND_WORKSPACE_SECRET", "s3cret-value")
	c, err := Load("../deploy/config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ReadSecrets(); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the example config is invalid: %v", err)
	}
	want := Default()
	want.Kafka.Topics = []string{"profile-mutations"}
	want.SuprSend.WorkspaceKey = "YOUR_WORKSPACE_KEY"
	want.SuprSend.Secret = "s3cret-value"
	if got, w := fmt.Sprintf("%+v", c), fmt.Sprintf("%+v", want); got != w {
		t.Errorf("example file differs from the documented defaults:\n got %s\nwant %s", got, w)
	}
	if c.DLQTopic() != "profile-mutations.dlq" {
		t.Errorf("DLQTopic = %q", c.DLQTopic())
	}
}

func TestLoadRejectsUnknownFieldsAndBadDurations(t *testing.T) {
	for name, body := range map[string]string{
		"unknown field":   "kafka:\n  brokerz: [a]\n",
		"number duration": "batch:\n  linger: 100\n",
		"bad duration":    "batch:\n  linger: soon\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(path); err == nil {
				t.Fatalf("Load accepted %q", body)
			}
		})
	}
}

func TestValidateNamesFieldAndValue(t *testing.T) {
	valid := func() Config {
		c := Default()
		c.Kafka.Topics = []string{"in"}
		c.SuprSend.WorkspaceKey = "k"
		c.SuprSend.Secret = "s"
		return c
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no topics", func(c *Config) { c.Kafka.Topics = nil }, "kafka.topics"},
		{"dlq is an input", func(c *Config) { c.DLQ.Topic = "in" }, "dlq.topic in: must not be one of the consumed topics"},
		{"bad start", func(c *Config) { c.Kafka.Start = "yesterday" }, `kafka.start "yesterday"`},
		{"no secret", func(c *Config) { c.SuprSend.Secret = "" }, "SUPRSEND_WORKSPACE_SECRET"},
		{"too many records", func(c *Config) { c.Batch.MaxRecords = 401 }, "batch.max_records 401: must be 1..400"},
		{"too many bytes", func(c *Config) { c.Batch.MaxBytes = 819201 }, "batch.max_bytes 819201"},
		{"bad url", func(c *Config) { c.SuprSend.BaseURL = "hub.suprsend.com" }, "suprsend.base_url"},
		{"zero linger", func(c *Config) { c.Batch.Linger = 0 }, "batch.linger 0s: must be positive"},
		{"sasl without password", func(c *Config) { c.Kafka.SASL = SASL{Mechanism: "plain", Username: "u"} }, "kafka.sasl plain"},
		{"drain outlasts the rebalance", func(c *Config) { c.Consumer.DrainTimeout = c.Kafka.RebalanceTimeout }, "consumer.drain_timeout 30s: must be below kafka.rebalance_timeout 30s"},
		{"heartbeat as slow as the session", func(c *Config) { c.Kafka.HeartbeatInterval = c.Kafka.SessionTimeout }, "kafka.heartbeat_interval 10s: must be below kafka.session_timeout 10s"},
		{"unknown sasl", func(c *Config) { c.Kafka.SASL.Mechanism = "kerberos" }, "kafka.sasl.mechanism kerberos"},
		{"unknown isolation level", func(c *Config) { c.Kafka.IsolationLevel = "serializable" }, `kafka.isolation_level "serializable": must be read_committed or read_uncommitted`},
		{"client certificate without its key", func(c *Config) { c.Kafka.TLSCertFile = "client.pem" }, `kafka.tls_cert_file "client.pem": and kafka.tls_key_file go together`},
		{"broker without a port", func(c *Config) { c.Kafka.Brokers = []string{"k1:9092", "k2"} }, `kafka.brokers[1] "k2": must be host:port`},
		{"broker port out of range", func(c *Config) { c.Kafka.Brokers = []string{"k1:99999"} }, `kafka.brokers[0] "k1:99999": must be host:port`},
		{"negative fetch size", func(c *Config) { c.Kafka.FetchMaxBytes = -5 }, "kafka.fetch_max_bytes -5: must be positive"},
		{"retry max below its start", func(c *Config) { c.Sender.RetryMax = D(time.Millisecond) }, "sender.retry_max 1ms: must be at least sender.retry_initial 200ms"},
		{"workspace key with a space", func(c *Config) { c.SuprSend.WorkspaceKey = "a b" }, `suprsend.workspace_key "a b": must not contain a space or control character`},
		{"unknown log level", func(c *Config) { c.Observability.LogLevel = "loud" }, `observability.log_level "loud"`},
		{"unknown log format", func(c *Config) { c.Observability.LogFormat = "xml" }, `observability.log_format "xml"`},
		{"listen without a port", func(c *Config) { c.Observability.Listen = "127.0.0.1" }, `observability.listen "127.0.0.1": must be host:port`},
		{"no decode worker", func(c *Config) { c.Consumer.DecodeWorkers = 0 }, "consumer.decode_workers 0: must be 1..256"},
		{"too many decode workers", func(c *Config) { c.Consumer.DecodeWorkers = 257 }, "consumer.decode_workers 257: must be 1..256"},
		{"empty topic name", func(c *Config) { c.Kafka.Topics = []string{"in", " "} }, `kafka.topics[1] " ": must be a topic name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	c := Default()
	c.SuprSend.Secret = "top-secret-123"
	c.Kafka.SASL.Password = "kafka-pass-456"
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", c, c, c, c.SuprSend.Secret), fmt.Sprint(c.Kafka.SASL)} {
		if strings.Contains(s, "top-secret-123") || strings.Contains(s, "kafka-pass-456") {
			t.Fatalf("a secret was printed: %s", s)
		}
	}
	if c.SuprSend.Secret.Reveal() != "top-secret-123" {
		t.Fatal("Reveal lost the secret")
	}
}

func TestSecretFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SUPRSEND_WORKSPACE_SECRET", "from-env")
	c := Default()
	c.SuprSend.SecretFile = path
	if err := c.ReadSecrets(); err != nil {
		t.Fatal(err)
	}
	if c.SuprSend.Secret.Reveal() != "from-file" {
		t.Errorf("secret = %q, want the file's, trimmed", c.SuprSend.Secret.Reveal())
	}
}

// TestLoadNamesPathAndLine: a mistake in the file is reported with its YAML path, its line and
// the rule in the user's terms, never as a Go type or a JSON decoder's message.
func TestLoadNamesPathAndLine(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"a list written as one value", "kafka:\n  topics: [in]\n  brokers: 127.0.0.1:9092\n",
			[]string{`config: kafka.brokers "127.0.0.1:9092" (c.yaml line 3): must be a list, such as ["127.0.0.1:9092"]`}},
		{"a duration written as a number", "batch:\n  max_records: 10\n  linger: 100\n",
			[]string{`config: batch.linger 100 (c.yaml line 3): must be a duration with its unit, such as "100ms"`}},
		{"a duration that does not parse", "batch:\n  linger: soon\n",
			[]string{`config: batch.linger "soon" (c.yaml line 2): must be a duration such as "100ms"`}},
		{"a typo", "kafka:\n  topics: [in]\n\n\n\n\n  grup_id: g\n",
			[]string{"config: kafka.grup_id (c.yaml line 7): is not a field; did you mean group_id?"}},
		{"a section that does not exist", "kafak:\n  topics: [in]\n",
			[]string{"config: kafak (c.yaml line 1): is not a section; did you mean kafka?"}},
		{"a field far from any", "kafka:\n  zzzzzzzz: 1\n",
			[]string{"config: kafka.zzzzzzzz (c.yaml line 2): is not a field (brokers, fetch_max_bytes,"}},
		{"text for a number, and two mistakes at once", "batch:\n  max_records: many\ndlq:\n  create: maybe\n",
			[]string{`batch.max_records "many" (c.yaml line 2): must be a whole number`, `dlq.create "maybe" (c.yaml line 4): must be true or false`}},
		{"a number for text", "kafka:\n  group_id: 123\n",
			[]string{`kafka.group_id 123 (c.yaml line 2): must be text: quote it ("123")`}},
		{"a section written as a value", "kafka: 127.0.0.1:9092\n",
			[]string{`kafka "127.0.0.1:9092" (c.yaml line 1): must be a section of fields (brokers, topics,`}},
		{"a section written twice", "kafka:\n  topics: [in]\nbatch:\n  linger: 1s\nkafka:\n  group_id: g\n",
			[]string{"config: kafka (c.yaml line 5): is written twice (first at line 1)"}},
		{"not YAML", "kafka:\n  topics: [in\n",
			[]string{"config: c.yaml is not valid YAML or JSON: line "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "c.yaml"), []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Chdir(dir)
			_, err := Load("c.yaml")
			if err == nil {
				t.Fatalf("Load accepted %q", tc.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load error\n  %v\nwants\n  %s", err, w)
				}
			}
			for _, leak := range []string{"json:", "Go struct", "unmarshal", "[]string"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error speaks Go, not YAML (%q): %v", leak, err)
				}
			}
		})
	}
}

// TestLocateAddsTheLineToValidate: Validate's errors about fields the file wrote carry the
// file's line; a broker at index 1 is located on its list's line.
func TestLocateAddsTheLineToValidate(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	body := "kafka:\n  topics: [in]\n  brokers: [\"k1:9092\", \"k2\"]\n  fetch_max_bytes: -5\nsuprsend:\n  workspace_key: k\n"
	if err := os.WriteFile("c.yaml", []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, src, err := LoadFile("c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.SuprSend.Secret = "s"
	err = src.Locate(c.Validate())
	for _, w := range []string{`kafka.brokers[1] "k2" (c.yaml line 3): must be host:port`, "kafka.fetch_max_bytes -5 (c.yaml line 4): must be positive"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate, located = %v; want %s", err, w)
		}
	}
	if c, src, err := LoadFile(""); err != nil || src.Locate(c.Validate()) == nil {
		t.Errorf("no file: %v, and the defaults (no topics) must not validate", err)
	}
}
