package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
