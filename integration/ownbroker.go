//go:build integration

package integration

import (
	"cmp"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// OwnBroker is a single-node broker of the test's own, started with deploy/kafka/kafka.sh on
// $PROFILE_INGEST_RESTART_PORT (default 19392), for tests that stop and start it. Tests that use
// it run one after another (the suite runs with -p 1), and each cleans it up when it ends.
type OwnBroker struct {
	t          *testing.T
	port, ctrl string
}

// StartOwnBroker starts the test's own broker, or skips t without java, and deletes its data
// when t ends.
func StartOwnBroker(t *testing.T) *OwnBroker {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("needs java to run a broker of its own (deploy/kafka/kafka.sh)")
	}
	// PROFILE_INGEST_RESTART_PORT lets two suites on one machine use brokers of their own.
	port := cmp.Or(os.Getenv("PROFILE_INGEST_RESTART_PORT"), "19392")
	b := &OwnBroker{t: t, port: port, ctrl: strconv.Itoa(mustAtoi(t, port) + 1)}
	b.Sh("up")
	t.Cleanup(func() { b.Sh("clean") })
	return b
}

// Brokers returns the broker's bootstrap address.
func (b *OwnBroker) Brokers() []string { return []string{"127.0.0.1:" + b.port} }

// Sh runs deploy/kafka/kafka.sh ARG (up, down, clean) for this broker.
func (b *OwnBroker) Sh(arg string) {
	b.t.Helper()
	cmd := exec.Command("deploy/kafka/kafka.sh", arg)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "KAFKA_PORT="+b.port, "KAFKA_CONTROLLER_PORT="+b.ctrl, "KAFKA_NODES=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.t.Fatalf("kafka.sh %s: %v\n%s", arg, err, out)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("PROFILE_INGEST_RESTART_PORT %q is not a port", s)
	}
	return n
}
