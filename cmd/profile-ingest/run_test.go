package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/config"
)

// Every sender setting of the config file reaches the sender.
func TestSenderConfigCarriesTheFile(t *testing.T) {
	cfg := config.Default()
	cfg.Sender.RetryInitial, cfg.Sender.RetryMax = config.D(300*time.Millisecond), config.D(7*time.Second)
	cfg.Sender.RetryMaxElapsed, cfg.Sender.AuthRetryMax = config.D(90*time.Second), config.D(20*time.Second)
	cfg.Sender.MaxInFlight, cfg.Sender.MaxRequestsPerSecond = 9, 12.5
	cfg.SuprSend.Timeout = config.D(11 * time.Second)
	sc := senderConfig(cfg)
	if sc.InitialInterval != 300*time.Millisecond || sc.MaxInterval != 7*time.Second || sc.MaxElapsedTime != 90*time.Second ||
		sc.AuthMaxInterval != 20*time.Second || sc.MaxInFlight != 9 || sc.MaxRequestsPerSecond != 12.5 || sc.RequestTimeout != 11*time.Second {
		t.Errorf("sender config %+v does not carry the file's %+v (timeout %s)", sc, cfg.Sender, cfg.SuprSend.Timeout)
	}
	if err := sc.Validate(); err != nil {
		t.Error(err)
	}
}

// A CA file that cannot be used is refused at start, naming the setting.
func TestKafkaDialerRefusesAnUnusableCAFile(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		filepath.Join(t.TempDir(), "missing.pem"): "config: kafka.tls_ca_file: open ",
		notPEM: "config: kafka.tls_ca_file " + notPEM + ": no PEM certificate in it",
	} {
		if _, _, err := kafkaDialer(config.Kafka{TLSCAFile: file}); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("tls_ca_file %s: err %v, want %q", file, err, want)
		}
	}
	if _, _, err := kafkaDialer(config.Kafka{TLSCertFile: notPEM, TLSKeyFile: notPEM}); err == nil ||
		!strings.HasPrefix(err.Error(), "config: kafka.tls_cert_file and kafka.tls_key_file: ") {
		t.Errorf("a client certificate that is not one: err %v, want the settings named", err)
	}
	d, tr, err := kafkaDialer(config.Kafka{TLS: true})
	if err != nil || d.TLS == nil || tr.TLS == nil || d.TLS.RootCAs != nil {
		t.Errorf("tls: true: %v; want TLS on, with the system's roots", err)
	}
}

// The README shows the exit-code table every --help prints, word for word.
func TestExitTableMatchesTheREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```\n"+exitTable+"```\n") {
		t.Errorf("README.md does not show the exit table of --help:\n%s", exitTable)
	}
}
