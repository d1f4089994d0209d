//go:build integration

package integration

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestWithoutABrokerTheHarnessSaysHowToGetOne: with neither KAFKA_BROKERS nor a Docker engine, a
// broker test fails at once with a message that says how to get a broker. The test runs this
// test binary again, with KAFKA_BROKERS unset and DOCKER_HOST pointing nowhere.
func TestWithoutABrokerTheHarnessSaysHowToGetOne(t *testing.T) {
	if os.Getenv("PROFILE_INGEST_HARNESS_CHILD") != "" {
		Brokers(t) // fails, in the child
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestWithoutABrokerTheHarnessSaysHowToGetOne$", "-test.count", "1")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KAFKA_BROKERS=") && !strings.HasPrefix(kv, "DOCKER_HOST=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PROFILE_INGEST_HARNESS_CHILD=1", "DOCKER_HOST=unix:///nonexistent/docker.sock",
		"TESTCONTAINERS_RYUK_DISABLED=true")
	began := time.Now()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the broker test passed without a broker:\n%s", out)
	}
	for _, want := range []string{"no Kafka broker for integration tests", "make kafka-up", "KAFKA_BROKERS"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the failure does not say %q:\n%s", want, out)
		}
	}
	if took := time.Since(began); took > time.Minute {
		t.Errorf("failing took %s; it should be quick", took)
	}
}
