package kafkautil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"
)

// Transient reports whether err means the cluster could not be reached or was not ready yet: a
// refused, reset or timed-out connection, a broker name that does not resolve (a Kubernetes
// headless service drops a broker's name while it restarts), or a Kafka error the protocol
// calls retriable (no leader, coordinator loading). Those end by themselves during a rolling
// restart, so a caller waits them out. Everything else is a refusal that waiting cannot change,
// and false: a failed SASL authentication or TLS verification, a missing authorization, a
// missing topic, a bad request.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || tlsRefusal(err) {
		return false
	}
	if ke, ok := errors.AsType[kafka.Error](err); ok {
		return ke.Temporary()
	}
	_, isNet := errors.AsType[net.Error](err)
	return isNet || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, context.DeadlineExceeded)
}

// tlsRefusal reports a TLS handshake that failed on a certificate or a protocol mismatch: a
// configuration fault, though it comes wrapped in a *net.OpError. An alert the broker sent
// (bad certificate, certificate required) is a *net.OpError whose Op is "remote error"; one
// this side raised, "local error".
func tlsRefusal(err error) bool {
	if op, ok := errors.AsType[*net.OpError](err); ok && (op.Op == "remote error" || op.Op == "local error") {
		return true
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.AlertError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	_, ok := errors.AsType[x509.CertificateInvalidError](err)
	return ok
}

// UntilReachable runs op until it returns nil, an error that is not Transient (returned), or
// ctx ends (ctx's error is returned). After each transient failure, notify is told the error
// and the wait before the next try: from 500 ms, doubling, 30 s at most, for ever.
func UntilReachable(ctx context.Context, op func(context.Context) error, notify func(err error, next time.Duration)) error {
	policy := backoff.NewExponentialBackOff(backoff.WithInitialInterval(500*time.Millisecond),
		backoff.WithMaxInterval(30*time.Second), backoff.WithMaxElapsedTime(0))
	err := backoff.RetryNotify(func() error {
		err := op(ctx)
		if err != nil && !Transient(err) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(policy, ctx), notify)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
