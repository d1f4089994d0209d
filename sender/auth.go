package sender

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// authGate holds new requests back while the API refuses the credentials, or redirects the
// requests (a wrong base URL): the configuration is wrong, not the records. The requests that
// met the 401/403/3xx keep retrying (they are the probes); others wait until the credentials work
// again, or until no probe is left, in which case they become probes themselves.
type authGate struct {
	m   *metrics
	log *zerolog.Logger

	mu      sync.Mutex
	failing bool
	since   time.Time
	lastErr error
	probers int
	changed chan struct{} // closed and replaced when failing ends or probers drops to 0
}

func (g *authGate) init(m *metrics, log *zerolog.Logger) {
	g.m, g.log, g.changed = m, log, make(chan struct{})
}

// wake releases the waiters; g.mu is held.
func (g *authGate) wake() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// admit returns once a new request may be sent, or with the context's cause.
func (g *authGate) admit(ctx context.Context) error {
	for {
		g.mu.Lock()
		if !g.failing || g.probers == 0 {
			g.mu.Unlock()
			return nil
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// fail records a 401/403 or 3xx answer to a probe.
func (g *authGate) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lastErr = err
	if g.failing {
		return
	}
	g.failing, g.since = true, time.Now()
	g.m.authFailing.Set(1)
	msg := "SuprSend refuses the workspace credentials: holding every chunk back and retrying until they work"
	if errors.Is(err, ErrRedirected) {
		msg = "SuprSend redirects the event requests: suprsend.base_url is wrong; holding every chunk back and retrying until it is fixed"
	}
	g.log.Error().Err(err).Msg(msg)
}

// ok records an answer other than 401/403/3xx: the configuration works.
func (g *authGate) ok() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.failing {
		return
	}
	g.failing = false
	g.m.authFailing.Set(0)
	g.log.Warn().Dur("down_for", time.Since(g.since)).Msg("SuprSend accepts the workspace credentials again; resuming")
	g.wake()
}

func (g *authGate) enter() {
	g.mu.Lock()
	g.probers++
	g.mu.Unlock()
}

func (g *authGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.probers--
	if g.probers == 0 && g.failing {
		g.wake()
	}
}

func (g *authGate) ready() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.failing {
		return nil
	}
	if errors.Is(g.lastErr, ErrRedirected) {
		return fmt.Errorf("%w since %s: %w", ErrRedirected, g.since.UTC().Format(time.RFC3339), g.lastErr)
	}
	return fmt.Errorf("%w since %s: %v", ErrUnauthorized, g.since.UTC().Format(time.RFC3339), g.lastErr)
}
