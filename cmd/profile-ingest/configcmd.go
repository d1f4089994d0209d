package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/profile-ingest/profile-ingest/config"
)

// configCmd is `profile-ingest config`.
type configCmd struct {
	Check configCheckCmd `cmd:"" help:"Validate the configuration run would use (file, flags, environment, secrets) offline, without connecting to anything, and print it with secrets redacted."`
}

// configCheckCmd is `profile-ingest config check`: run's flags, run's loading and validation,
// and nothing that connects.
type configCheckCmd struct {
	runCmd `embed:""`
	JSON   bool `name:"json" help:"Print one JSON object: {\"valid\":bool,\"errors\":[{\"field\",\"value\",\"rule\",\"file\",\"line\",\"flag\"}],\"config\":{...},\"secrets\":{...}}."`
}

// Help is the detailed help of "config check --help".
func (c *configCheckCmd) Help() string {
	return `Takes every flag and environment variable run takes, so "profile-ingest config check --config F"
answers whether "profile-ingest run --config F" would start, without a broker. Every mistake is
listed, each with its YAML path and the file's line (or the flag that set it) and the rule:
  config: kafka.brokers "127.0.0.1:9092" (c.yaml line 3): must be a list, such as ["127.0.0.1:9092"]
  config: kafka.grup_id (c.yaml line 7): is not a field; did you mean group_id?
A valid configuration prints as YAML (--json: JSON) with every default filled in; secrets show
only whether they are set and where from. Exit 0 when valid, 2 when not.`
}

func (c *configCheckCmd) Run() error {
	return c.check(os.Stdout)
}

// checkReport is config check's --json output.
type checkReport struct {
	Valid   bool              `json:"valid"`
	Errors  []checkError      `json:"errors"`
	Config  *config.Config    `json:"config,omitempty"`
	Secrets map[string]string `json:"secrets,omitempty"`
}

type checkError struct {
	Field string `json:"field,omitempty"`
	Value string `json:"value,omitempty"`
	Rule  string `json:"rule"`
	File  string `json:"file,omitempty"`
	Line  int    `json:"line,omitempty"`
	Flag  string `json:"flag,omitempty"`
}

func (c *configCheckCmd) check(stdout io.Writer) error {
	cfg, _, err := c.load()
	if err == nil {
		_, _, err = kafkaDialer(cfg.Kafka) // reads the TLS files, as run does before it dials
	}
	report := checkReport{Valid: err == nil, Errors: []checkError{}}
	if err == nil {
		report.Config, report.Secrets = &cfg, secretSources(cfg)
	}
	for _, e := range config.Errors(err) {
		if fe, ok := errors.AsType[*config.FieldError](e); ok {
			report.Errors = append(report.Errors, checkError{Field: fe.Field, Value: fe.Value, Rule: fe.Rule, File: fe.File, Line: fe.Line, Flag: fe.Flag})
		} else {
			report.Errors = append(report.Errors, checkError{Rule: e.Error()})
		}
	}
	if c.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(report); werr != nil {
			return werr
		}
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("config check: %d problems", len(report.Errors))}
		}
		return nil
	}
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	source := "the defaults, flags and environment"
	if c.Config != "" {
		source = c.Config + " with flags and environment"
	}
	fmt.Fprintf(stdout, "# valid: the configuration run would use (%s)\n", source)
	for _, k := range []string{"suprsend.workspace_secret", "kafka.sasl.password"} {
		if v, ok := report.Secrets[k]; ok {
			fmt.Fprintf(stdout, "# %s: %s\n", k, v)
		}
	}
	_, err = stdout.Write(out)
	return err
}

// secretSources says, for each secret, whether it is set and where it comes from, never its value.
func secretSources(cfg config.Config) map[string]string {
	out := map[string]string{}
	describe := func(set bool, file, env string) string {
		switch {
		case !set:
			return "unset"
		case file != "":
			return "[REDACTED] from the file " + file
		}
		return "[REDACTED] from the environment variable " + env
	}
	out["suprsend.workspace_secret"] = describe(cfg.SuprSend.Secret != "", cfg.SuprSend.SecretFile, "SUPRSEND_WORKSPACE_SECRET")
	if cfg.Kafka.SASL.Mechanism != "" {
		out["kafka.sasl.password"] = describe(cfg.Kafka.SASL.Password != "", cfg.Kafka.SASL.PasswordFile, "KAFKA_SASL_PASSWORD")
	}
	return out
}

// flagsGiven maps the YAML path of each field a run flag set to the flag, so that an error
// about that field names the flag rather than the file.
func (r *runCmd) flagsGiven() map[string]string {
	out := map[string]string{}
	given := func(set bool, field, flag string) {
		if set {
			out[field] = flag
		}
	}
	given(len(r.Brokers) > 0, "kafka.brokers", "--brokers")
	given(len(r.Topics) > 0, "kafka.topics", "--topics")
	given(r.Group != "", "kafka.group_id", "--group")
	given(r.Start != "", "kafka.start", "--start")
	given(r.BaseURL != "", "suprsend.base_url", "--base-url")
	given(r.WorkspaceKey != "", "suprsend.workspace_key", "--workspace-key")
	given(r.DLQTopic != "", "dlq.topic", "--dlq-topic")
	given(r.MaxInFlight != nil, "sender.max_in_flight", "--max-in-flight")
	given(r.Linger != nil, "batch.linger", "--linger")
	given(r.DrainTimeout != nil, "consumer.drain_timeout", "--drain-timeout")
	given(r.CommitInterval != nil, "consumer.commit_interval", "--commit-interval")
	given(r.Listen != nil, "observability.listen", "--listen")
	given(r.LogLevel != "", "observability.log_level", "--log-level")
	given(r.LogFormat != "", "observability.log_format", "--log-format")
	return out
}
