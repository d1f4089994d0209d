package kafkautil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func TestTransient(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("kafka 127.0.0.1:1: %w", refused), true},
		{&net.DNSError{Err: "no such host", Name: "kafka-0.kafka", IsNotFound: true}, true},
		{io.EOF, true},
		{fmt.Errorf("metadata: %w", kafka.LeaderNotAvailable), true},
		{kafka.GroupCoordinatorNotAvailable, true},
		{context.DeadlineExceeded, true},
		{context.Canceled, false},
		{fmt.Errorf("sasl: %w", kafka.SASLAuthenticationFailed), false},
		{kafka.TopicAuthorizationFailed, false},
		{kafka.ClusterAuthorizationFailed, false},
		{&net.OpError{Op: "remote error", Err: tls.AlertError(42)}, false},
		{fmt.Errorf("kafka 127.0.0.1:1: %w", &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}), false},
		{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, false},
		{errors.New("dead-letter topic x does not exist (create it, or set dlq.create: true)"), false},
	} {
		if got := Transient(c.err); got != c.want {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestUntilReachableWaitsOutTransientErrorsOnly(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tries, notified := 0, 0
	err := UntilReachable(t.Context(), func(context.Context) error {
		tries++
		if tries < 3 {
			return refused
		}
		return nil
	}, func(error, time.Duration) { notified++ })
	if err != nil || tries != 3 || notified != 2 {
		t.Fatalf("err %v after %d tries, %d notices; want nil after 3 tries, 2 notices", err, tries, notified)
	}
	tries = 0
	err = UntilReachable(t.Context(), func(context.Context) error { tries++; return kafka.SASLAuthenticationFailed }, nil)
	if !errors.Is(err, kafka.SASLAuthenticationFailed) || tries != 1 {
		t.Fatalf("err %v after %d tries; want the authentication failure after 1", err, tries)
	}
	ctx, cancel := context.WithCancel(t.Context())
	err = UntilReachable(ctx, func(context.Context) error { cancel(); return refused }, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v once ctx ended, want context.Canceled", err)
	}
}
