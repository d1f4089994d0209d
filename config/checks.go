package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// ValidateConnection checks what every command that talks to Kafka needs before it dials:
// brokers written host:port, the SASL mechanism and its credentials (after ReadSecrets), and a
// client certificate with its key. `run` checks it through Validate; `publish`, `status` and
// the `dlq` commands, which use only the kafka section, call it alone.
func (k Kafka) ValidateConnection() error {
	var errs []error
	if len(k.Brokers) == 0 {
		errs = append(errs, &FieldError{Field: "kafka.brokers", Value: "[]", Rule: "name at least one broker"})
	}
	for i, b := range k.Brokers {
		if err := checkHostPort(b); err != nil {
			errs = append(errs, &FieldError{Field: fmt.Sprintf("kafka.brokers[%d]", i), Value: strconv.Quote(b),
				Rule: "must be host:port, such as \"kafka-1:9092\" (" + err.Error() + ")"})
		}
	}
	if err := k.SASL.Validate(); err != nil {
		errs = append(errs, err)
	}
	if (k.TLSCertFile == "") != (k.TLSKeyFile == "") {
		errs = append(errs, &FieldError{Field: "kafka.tls_cert_file", Value: strconv.Quote(k.TLSCertFile),
			Rule: "and kafka.tls_key_file go together: give both or neither"})
	}
	return errors.Join(errs...)
}

// checkHostPort accepts host:port with a host and a port 1..65535.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(strings.TrimSpace(s))
	if err != nil {
		return addrReason(err)
	}
	if host == "" {
		return fmt.Errorf("no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not 1..65535", port)
	}
	return nil
}

// logLevels are the levels observability.log_level takes (zerolog's names).
var logLevels = []string{"trace", "debug", "info", "warn", "error", "fatal", "panic", "disabled"}

// validateMore holds the checks the worker's components would otherwise make only once Kafka
// answers (a consumer refusing fetch_max_bytes, a heartbeat the group coordinator refuses) or
// at start (the logger), so that Validate finds them offline.
func (c Config) validateMore() []error {
	var errs []error
	bad := func(field string, value any, rule string) {
		errs = append(errs, &FieldError{Field: field, Value: fmt.Sprint(value), Rule: rule})
	}
	for i, t := range c.Kafka.Topics {
		if strings.TrimSpace(t) == "" || strings.ContainsAny(t, " \t,") {
			bad(fmt.Sprintf("kafka.topics[%d]", i), strconv.Quote(t), "must be a topic name: not empty, no spaces or commas")
		}
	}
	if c.Kafka.FetchMaxBytes < 1 {
		bad("kafka.fetch_max_bytes", c.Kafka.FetchMaxBytes, "must be positive (bytes fetched per partition at once; default 1048576)")
	}
	if c.Kafka.HeartbeatInterval >= c.Kafka.SessionTimeout {
		bad("kafka.heartbeat_interval", c.Kafka.HeartbeatInterval,
			fmt.Sprintf("must be below kafka.session_timeout %s (a third of it or less is usual): the group would expel a member, a draining one too, between two heartbeats", c.Kafka.SessionTimeout))
	}
	if c.Sender.RetryMax < c.Sender.RetryInitial {
		bad("sender.retry_max", c.Sender.RetryMax, fmt.Sprintf("must be at least sender.retry_initial %s", c.Sender.RetryInitial))
	}
	if c.Sender.AuthRetryMax < c.Sender.RetryInitial {
		bad("sender.auth_retry_max", c.Sender.AuthRetryMax, fmt.Sprintf("must be at least sender.retry_initial %s", c.Sender.RetryInitial))
	}
	if strings.ContainsFunc(c.SuprSend.WorkspaceKey, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		bad("suprsend.workspace_key", strconv.Quote(c.SuprSend.WorkspaceKey), "must not contain a space or control character")
	}
	if !slices.Contains(logLevels, c.Observability.LogLevel) {
		bad("observability.log_level", strconv.Quote(c.Observability.LogLevel), "must be debug, info, warn or error")
	}
	if c.Observability.LogFormat != "json" && c.Observability.LogFormat != "console" {
		bad("observability.log_format", strconv.Quote(c.Observability.LogFormat), "must be json or console")
	}
	if l := c.Observability.Listen; l != "" {
		if err := checkHostPortListen(l); err != nil {
			bad("observability.listen", strconv.Quote(l), "must be host:port, such as \"127.0.0.1:9464\", or \"\" to serve nothing ("+err.Error()+")")
		}
	}
	return errs
}

// checkHostPortListen accepts a listen address: host may be empty (all interfaces), port 0..65535.
func checkHostPortListen(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return addrReason(err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not 0..65535", port)
	}
	return nil
}

// addrReason is net.SplitHostPort's complaint without the address it repeats.
func addrReason(err error) error {
	if ae, ok := errors.AsType[*net.AddrError](err); ok {
		return errors.New(ae.Err)
	}
	return err
}
