package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Config is everything `profile-ingest run` needs. Load it with Load; fields a file leaves out
// keep the defaults of Default, written beside each field.
type Config struct {
	Kafka         Kafka         `json:"kafka"`
	SuprSend      SuprSend      `json:"suprsend"`
	Batch         Batch         `json:"batch"`
	Sender        Sender        `json:"sender"`
	DLQ           DLQ           `json:"dlq"`
	Consumer      Consumer      `json:"consumer"`
	Observability Observability `json:"observability"`
}

// Kafka says where mutations come from.
type Kafka struct {
	Brokers []string `json:"brokers"`  // Default: ["127.0.0.1:9092"]
	Topics  []string `json:"topics"`   // Required.
	GroupID string   `json:"group_id"` // Default: "profile-ingest"
	// Start is where a group without committed offsets begins: "earliest", "latest", or an
	// RFC 3339 time (the first record at or after it, for replaying history from a point).
	// Default: "earliest"
	Start             string   `json:"start"`
	SessionTimeout    Duration `json:"session_timeout"`    // Default: 10s
	HeartbeatInterval Duration `json:"heartbeat_interval"` // Default: 3s
	RebalanceTimeout  Duration `json:"rebalance_timeout"`  // Default: 30s
	FetchMaxBytes     int      `json:"fetch_max_bytes"`    // the most one fetch asks of one partition. Default: 1048576
	FetchMaxWait      Duration `json:"fetch_max_wait"`     // Default: 250ms
	// IsolationLevel is how records written in transactions are read: "read_committed" (those
	// of committed transactions only, as the Java client's default) or "read_uncommitted"
	// (aborted ones too). Transaction markers are never delivered. Default: "read_committed"
	IsolationLevel string `json:"isolation_level"`
	SASL           SASL   `json:"sasl"`
	TLS            bool   `json:"tls"` // Default: false
	// TLSCAFile is a PEM file of the certificate authorities that sign the brokers'
	// certificates, for a cluster with a private CA; setting it turns TLS on. Default: "", the
	// system's roots.
	TLSCAFile string `json:"tls_ca_file"`
	// TLSCertFile and TLSKeyFile are the PEM certificate and private key this client presents
	// to brokers that require mutual TLS; both or neither. Setting them turns TLS on.
	// Default: "" (none).
	TLSCertFile string `json:"tls_cert_file"`
	TLSKeyFile  string `json:"tls_key_file"`
	// Formats names the input format of a topic and its mapping; a topic left out carries
	// mutation messages. Default: none.
	Formats map[string]TopicFormat `json:"formats"`
}

// SASL authenticates to the brokers. The password comes from PasswordFile or the environment
// variable KAFKA_SASL_PASSWORD, never from the config file itself.
type SASL struct {
	Mechanism    string `json:"mechanism"` // "", "plain", "scram-sha-256" or "scram-sha-512". Default: "" (none)
	Username     string `json:"username"`
	PasswordFile string `json:"password_file"`
	Password     Secret `json:"-"`
}

// SuprSend says where events go.
type SuprSend struct {
	BaseURL      string   `json:"base_url"`      // Default: "https://hub.suprsend.com/"
	WorkspaceKey string   `json:"workspace_key"` // Required.
	SecretFile   string   `json:"workspace_secret_file"`
	Secret       Secret   `json:"-"`       // from SecretFile or SUPRSEND_WORKSPACE_SECRET
	Timeout      Duration `json:"timeout"` // one HTTP request. Default: 30s
}

// Batch closes bulk chunks; the platform allows at most 400 events and 819200 bytes.
type Batch struct {
	MaxRecords int      `json:"max_records"` // Default: 400
	MaxBytes   int      `json:"max_bytes"`   // Default: 819200
	Linger     Duration `json:"linger"`      // Default: 100ms
}

// Sender retries and parallelism.
type Sender struct {
	MaxInFlight     int      `json:"max_in_flight"`     // chunks sent at once, 1..64. Default: 4
	RetryInitial    Duration `json:"retry_initial"`     // Default: 200ms
	RetryMax        Duration `json:"retry_max"`         // one wait. Default: 10s
	RetryMaxElapsed Duration `json:"retry_max_elapsed"` // per chunk, then retries_exhausted. Default: 2m
	AuthRetryMax    Duration `json:"auth_retry_max"`    // wait between tries while credentials fail. Default: 30s
	// MaxRequestsPerSecond paces HTTP attempts, retries included, to stay under the workspace's
	// rate limit on a large backfill; 0 is no limit. Default: 0
	MaxRequestsPerSecond float64 `json:"max_requests_per_second"`
}

// DLQ is the dead-letter topic.
type DLQ struct {
	Topic      string `json:"topic"`      // Default: the first topic + ".dlq"
	Create     bool   `json:"create"`     // create it when missing. Default: true
	Partitions int    `json:"partitions"` // when created. Default: 1
	// MaxMessageBytes is the max.message.bytes the dead-letter topic is created with: room for
	// a dead letter of the largest record the consumed topics take (1 MB by default) and its
	// headers. Default: 8388608
	MaxMessageBytes int `json:"max_message_bytes"`
}

// Consumer bounds memory and paces commits.
type Consumer struct {
	MaxInFlightRecords int      `json:"max_in_flight_records"` // fetched, unresolved records. Default: 20000
	MaxInFlightBytes   int      `json:"max_in_flight_bytes"`   // their value bytes. Default: 67108864
	CommitInterval     Duration `json:"commit_interval"`       // Default: 1s
	DrainTimeout       Duration `json:"drain_timeout"`         // on shutdown or revoke. Default: 20s
	StopAtEnd          bool     `json:"stop_at_end"`           // exit once caught up with the end offsets seen at start. Default: false
	LagInterval        Duration `json:"lag_interval"`          // how often consumer lag is measured; 0 turns it off. Default: 15s
	// DecodeWorkers is how many goroutines decode records beside the pipeline, 1..256: records
	// of one partition decoded by several still go on in offset order. Default: the CPUs the
	// process may use (GOMAXPROCS; a container's CPU limit counts).
	DecodeWorkers int `json:"decode_workers"`
}

// Observability serves metrics and health.
type Observability struct {
	Listen    string `json:"listen"`     // /metrics, /healthz, /readyz; "" disables. Default: "127.0.0.1:9464"
	LogLevel  string `json:"log_level"`  // Default: "info"
	LogFormat string `json:"log_format"` // "json" or "console". Default: "json"
}

// Default returns the defaults.
func Default() Config {
	return Config{
		Kafka: Kafka{
			Brokers: []string{"127.0.0.1:9092"}, GroupID: "profile-ingest", Start: "earliest",
			SessionTimeout: D(10 * time.Second), HeartbeatInterval: D(3 * time.Second),
			RebalanceTimeout: D(30 * time.Second), FetchMaxBytes: 1 << 20, FetchMaxWait: D(250 * time.Millisecond),
			IsolationLevel: "read_committed",
		},
		SuprSend: SuprSend{BaseURL: "https://hub.suprsend.com/", Timeout: D(30 * time.Second)},
		Batch:    Batch{MaxRecords: 400, MaxBytes: 819200, Linger: D(100 * time.Millisecond)},
		Sender: Sender{MaxInFlight: 4, RetryInitial: D(200 * time.Millisecond), RetryMax: D(10 * time.Second),
			RetryMaxElapsed: D(2 * time.Minute), AuthRetryMax: D(30 * time.Second)},
		DLQ: DLQ{Create: true, Partitions: 1, MaxMessageBytes: 8 << 20},
		Consumer: Consumer{MaxInFlightRecords: 20000, MaxInFlightBytes: 64 << 20,
			CommitInterval: D(time.Second), DrainTimeout: D(20 * time.Second), LagInterval: D(15 * time.Second),
			DecodeWorkers: runtime.GOMAXPROCS(0)},
		Observability: Observability{Listen: "127.0.0.1:9464", LogLevel: "info", LogFormat: "json"},
	}
}

// Load reads a YAML or JSON file over the defaults (path "" reads none), then the secrets from
// their files or the environment. It does not validate: apply flags, then call Validate.
func Load(path string) (Config, error) {
	c, _, err := LoadFile(path)
	return c, err
}

// LoadFile is Load that also returns where each field is written, so that Source.Locate can
// add the line to Validate's errors. A mistake in the file itself (a field that does not exist,
// a list written as one value, a duration without its unit) is a *FieldError naming the YAML
// path and the line.
func LoadFile(path string) (Config, Source, error) {
	c := Default()
	if path == "" {
		return c, Source{}, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return c, Source{}, fmt.Errorf("config: %w", err)
	}
	src, err := checkYAML(path, raw)
	if err != nil {
		return c, src, err
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return c, src, fmt.Errorf("config: %s: %w", path, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(js)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, src, fmt.Errorf("config: %s: %w", path, err)
	}
	return c, src, nil
}

// ReadSecrets fills the workspace secret and the SASL password from their files, else from
// SUPRSEND_WORKSPACE_SECRET and KAFKA_SASL_PASSWORD.
func (c *Config) ReadSecrets() error {
	var err error
	if c.SuprSend.Secret, err = readSecret("suprsend.workspace_secret_file", c.SuprSend.SecretFile, "SUPRSEND_WORKSPACE_SECRET"); err != nil {
		return err
	}
	if c.Kafka.SASL.Mechanism != "" {
		if c.Kafka.SASL.Password, err = readSecret("kafka.sasl.password_file", c.Kafka.SASL.PasswordFile, "KAFKA_SASL_PASSWORD"); err != nil {
			return err
		}
	}
	return nil
}

func readSecret(field, path, env string) (Secret, error) {
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("config: %s: %w", field, err)
		}
		return Secret(strings.TrimSpace(string(raw))), nil
	}
	return Secret(os.Getenv(env)), nil
}

// DLQTopic returns the dead-letter topic: DLQ.Topic, else the first topic + ".dlq".
func (c Config) DLQTopic() string {
	if c.DLQ.Topic != "" || len(c.Kafka.Topics) == 0 {
		return c.DLQ.Topic
	}
	return c.Kafka.Topics[0] + ".dlq"
}

// StartTime parses Kafka.Start when it is a time; ok is false for "earliest" and "latest".
func (k Kafka) StartTime() (t time.Time, ok bool, err error) {
	switch k.Start {
	case "earliest", "latest":
		return time.Time{}, false, nil
	}
	t, err = time.Parse(time.RFC3339, k.Start)
	if err != nil {
		return t, false, &FieldError{Field: "kafka.start", Value: fmt.Sprintf("%q", k.Start), Rule: "must be earliest, latest or an RFC 3339 time (2025-01-01T00:00:00Z)"}
	}
	return t, true, nil
}

// Validate names the mechanism or the missing credential when s cannot be used (after
// ReadSecrets).
func (s SASL) Validate() error {
	switch s.Mechanism {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		return &FieldError{Field: "kafka.sasl.mechanism", Value: s.Mechanism, Rule: "must be plain, scram-sha-256 or scram-sha-512"}
	}
	if s.Mechanism != "" && (s.Username == "" || s.Password == "") {
		return &FieldError{Field: "kafka.sasl", Value: s.Mechanism, Rule: "needs a username and a password (password_file or KAFKA_SASL_PASSWORD)"}
	}
	return nil
}

// Validate names every field that is wrong, its value and the rule, each a *FieldError
// (Source.Locate adds their lines). It checks everything the worker would refuse later, so
// that `profile-ingest config check` can answer offline.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, value any, rule string) {
		errs = append(errs, &FieldError{Field: field, Value: fmt.Sprint(value), Rule: rule})
	}
	if err := c.Kafka.ValidateConnection(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Kafka.Topics) == 0 {
		bad("kafka.topics", "[]", "name at least one topic")
	}
	for _, t := range c.Kafka.Topics {
		if t == c.DLQTopic() {
			bad("dlq.topic", t, "must not be one of the consumed topics")
		}
	}
	c.Kafka.validateFormats(bad)
	if strings.TrimSpace(c.Kafka.GroupID) == "" {
		bad("kafka.group_id", `""`, "must not be empty")
	}
	if _, _, err := c.Kafka.StartTime(); err != nil {
		errs = append(errs, err)
	}
	if l := c.Kafka.IsolationLevel; l != "read_committed" && l != "read_uncommitted" {
		bad("kafka.isolation_level", fmt.Sprintf("%q", l), "must be read_committed or read_uncommitted")
	}
	if u, err := url.Parse(c.SuprSend.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("suprsend.base_url", fmt.Sprintf("%q", c.SuprSend.BaseURL), "must be an http(s) URL")
	}
	if strings.TrimSpace(c.SuprSend.WorkspaceKey) == "" {
		bad("suprsend.workspace_key", `""`, "is required")
	}
	if c.SuprSend.Secret == "" {
		bad("suprsend.workspace_secret", "(unset)", "set SUPRSEND_WORKSPACE_SECRET or suprsend.workspace_secret_file")
	}
	if c.Batch.MaxRecords < 1 || c.Batch.MaxRecords > 400 {
		bad("batch.max_records", c.Batch.MaxRecords, "must be 1..400")
	}
	if c.Batch.MaxBytes < 10242 || c.Batch.MaxBytes > 819200 {
		bad("batch.max_bytes", c.Batch.MaxBytes, "must be 10242..819200")
	}
	if c.Sender.MaxInFlight < 1 || c.Sender.MaxInFlight > 64 {
		bad("sender.max_in_flight", c.Sender.MaxInFlight, "must be 1..64")
	}
	if c.Sender.MaxRequestsPerSecond < 0 {
		bad("sender.max_requests_per_second", c.Sender.MaxRequestsPerSecond, "must not be negative (0: no limit)")
	}
	if c.Consumer.MaxInFlightRecords < c.Batch.MaxRecords {
		bad("consumer.max_in_flight_records", c.Consumer.MaxInFlightRecords, "must be at least batch.max_records")
	}
	if c.Consumer.MaxInFlightBytes < c.Batch.MaxBytes {
		bad("consumer.max_in_flight_bytes", c.Consumer.MaxInFlightBytes, "must be at least batch.max_bytes")
	}
	for field, d := range map[string]Duration{
		"kafka.session_timeout": c.Kafka.SessionTimeout, "kafka.heartbeat_interval": c.Kafka.HeartbeatInterval,
		"kafka.rebalance_timeout": c.Kafka.RebalanceTimeout, "kafka.fetch_max_wait": c.Kafka.FetchMaxWait,
		"suprsend.timeout": c.SuprSend.Timeout, "batch.linger": c.Batch.Linger,
		"sender.retry_initial": c.Sender.RetryInitial, "sender.retry_max": c.Sender.RetryMax,
		"sender.retry_max_elapsed": c.Sender.RetryMaxElapsed, "sender.auth_retry_max": c.Sender.AuthRetryMax,
		"consumer.commit_interval": c.Consumer.CommitInterval, "consumer.drain_timeout": c.Consumer.DrainTimeout,
	} {
		if d <= 0 {
			bad(field, d, "must be positive")
		}
	}
	if c.Consumer.DrainTimeout >= c.Kafka.RebalanceTimeout {
		bad("consumer.drain_timeout", c.Consumer.DrainTimeout,
			fmt.Sprintf("must be below kafka.rebalance_timeout %s: the group waits no longer than that for a member to finish its drain "+
				"(the member heartbeats through its drain, so kafka.session_timeout does not bound it)", c.Kafka.RebalanceTimeout))
	}
	if c.Consumer.DecodeWorkers < 1 || c.Consumer.DecodeWorkers > 256 {
		bad("consumer.decode_workers", c.Consumer.DecodeWorkers, "must be 1..256 (default: the CPUs the process may use)")
	}
	if c.Consumer.LagInterval < 0 {
		bad("consumer.lag_interval", c.Consumer.LagInterval, "must not be negative (0 turns it off)")
	}
	if c.DLQ.Partitions < 1 {
		bad("dlq.partitions", c.DLQ.Partitions, "must be at least 1")
	}
	if c.DLQ.MaxMessageBytes < 1<<20 {
		bad("dlq.max_message_bytes", c.DLQ.MaxMessageBytes, "must be at least 1048576, the size of a record a broker takes by default")
	}
	errs = append(errs, c.validateMore()...)
	return errors.Join(errs...)
}
