//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tckafka "github.com/testcontainers/testcontainers-go/modules/kafka"
)

// containerImage is the Kafka image the harness starts where Docker works and KAFKA_BROKERS is unset.
const containerImage = "apache/kafka:4.1.1"

var (
	brokerOnce  sync.Once
	brokerAddrs []string
	brokerErr   error
)

// Brokers returns the bootstrap addresses of a real Kafka broker for t, in this order of preference:
//  1. $KAFKA_BROKERS (comma-separated), as `make test` and deploy/kafka/kafka.sh set it;
//  2. a Kafka container started with testcontainers-go, when a Docker provider is healthy;
//  3. otherwise t fails, saying how to get a broker.
//
// The broker is found once per test binary and shared by every test in it.
func Brokers(t testing.TB) []string {
	t.Helper()
	brokerOnce.Do(func() { brokerAddrs, brokerErr = findBrokers() })
	if brokerErr != nil {
		t.Fatalf("no Kafka broker for integration tests: %v\n"+
			"Start the project's local Kafka with `make kafka-up` and run with KAFKA_BROKERS=127.0.0.1:9092, "+
			"or run `make test`, which does both.", brokerErr)
	}
	return brokerAddrs
}

func findBrokers() ([]string, error) {
	if env := strings.TrimSpace(os.Getenv("KAFKA_BROKERS")); env != "" {
		var addrs []string
		for _, a := range strings.Split(env, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		return addrs, nil
	}
	return startContainer()
}

// startContainer starts a Kafka container when Docker is usable. The container lives as long as
// the test binary; testcontainers' reaper removes it afterwards.
func startContainer() (addrs []string, err error) {
	defer func() {
		// testcontainers panics in some environments without Docker; report it as an error.
		if r := recover(); r != nil {
			err = fmt.Errorf("KAFKA_BROKERS is unset and Docker is unusable: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	provider, err := testcontainers.NewDockerProvider()
	if err != nil {
		return nil, fmt.Errorf("KAFKA_BROKERS is unset and no Docker provider: %w", err)
	}
	defer provider.Close()
	if err := provider.Health(ctx); err != nil {
		return nil, fmt.Errorf("KAFKA_BROKERS is unset and Docker is not healthy: %w", err)
	}
	c, err := tckafka.Run(ctx, containerImage, tckafka.WithClusterID("profile-ingest-test"))
	if err != nil {
		return nil, fmt.Errorf("starting a Kafka container (%s): %w", containerImage, err)
	}
	return c.Brokers(ctx)
}

// SASLBrokers returns the SASL_PLAINTEXT listener of the local broker, $KAFKA_SASL_BROKERS, which
// deploy/kafka/kafka.sh (and so `make test`) sets. It accepts PLAIN for the user dev/dev-password
// and SCRAM for users added with AddScramUser. A broker without it (a container, or one of your
// own) skips the test.
func SASLBrokers(t testing.TB) []string {
	t.Helper()
	env := strings.TrimSpace(os.Getenv("KAFKA_SASL_BROKERS"))
	if env == "" {
		t.Skip("KAFKA_SASL_BROKERS is unset: the SASL tests need the SASL listener of deploy/kafka/kafka.sh (`make test` starts it)")
	}
	return strings.Split(env, ",")
}

// TLSBrokers returns the SSL listener of the local broker, $KAFKA_TLS_BROKERS, and the PEM file
// of its self-signed certificate, $KAFKA_TLS_CA_FILE, which deploy/kafka/kafka.sh (and so
// `make test`) sets. A broker without them skips the test.
func TLSBrokers(t testing.TB) ([]string, string) {
	t.Helper()
	env, ca := strings.TrimSpace(os.Getenv("KAFKA_TLS_BROKERS")), os.Getenv("KAFKA_TLS_CA_FILE")
	if env == "" || ca == "" {
		t.Skip("KAFKA_TLS_BROKERS or KAFKA_TLS_CA_FILE is unset: the TLS tests need the SSL listener of deploy/kafka/kafka.sh (`make test` starts it)")
	}
	return strings.Split(env, ","), ca
}

// MTLSBrokers returns the local broker's listener that requires a client certificate,
// $KAFKA_MTLS_BROKERS, with the PEM files of the CA ($KAFKA_TLS_CA_FILE) and of a client
// certificate and key it accepts ($KAFKA_TLS_CLIENT_CERT, $KAFKA_TLS_CLIENT_KEY), which
// deploy/kafka/kafka.sh sets. A broker without them skips the test.
func MTLSBrokers(t testing.TB) (brokers []string, ca, cert, key string) {
	t.Helper()
	env := strings.TrimSpace(os.Getenv("KAFKA_MTLS_BROKERS"))
	ca, cert, key = os.Getenv("KAFKA_TLS_CA_FILE"), os.Getenv("KAFKA_TLS_CLIENT_CERT"), os.Getenv("KAFKA_TLS_CLIENT_KEY")
	if env == "" || ca == "" || cert == "" || key == "" {
		t.Skip("KAFKA_MTLS_BROKERS or the TLS files are unset: the mutual-TLS test needs deploy/kafka/kafka.sh's listener (`make test` starts it)")
	}
	return strings.Split(env, ","), ca, cert, key
}
