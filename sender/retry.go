package sender

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/profile-ingest/profile-ingest/batcher"
)

// budget is the retry budget of one chunk (Config.MaxElapsedTime), shared by the request
// bodies a split makes of it, so that a split chunk does not get a fresh budget per part.
type budget struct {
	total    time.Duration
	deadline time.Time
}

func newBudget(total time.Duration) *budget {
	return &budget{total: total, deadline: time.Now().Add(total)}
}

// policy is the backoff of one request body. It reads the last attempt's error: a 401/403 or
// a 3xx switches to the auth schedule (capped, endless, off the budget); a Retry-After replaces the
// computed wait; every wait is cut to what is left of the chunk's budget, and a spent budget
// stops.
type policy struct {
	normal *backoff.ExponentialBackOff
	auth   *backoff.ExponentialBackOff
	budget *budget
	inAuth bool
	last   error
}

var _ backoff.BackOff = (*policy)(nil)

func newPolicy(cfg Config, b *budget) *policy {
	exp := func(maxInterval time.Duration) *backoff.ExponentialBackOff {
		return backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(cfg.InitialInterval),
			backoff.WithMultiplier(cfg.Multiplier),
			backoff.WithRandomizationFactor(cfg.RandomizationFactor),
			backoff.WithMaxInterval(maxInterval),
			backoff.WithMaxElapsedTime(0), // the policy keeps its own budget
		)
	}
	return &policy{budget: b, normal: exp(cfg.MaxInterval), auth: exp(cfg.AuthMaxInterval)}
}

// Reset starts the schedule of a new request body; the chunk's budget runs on.
func (p *policy) Reset() {
	p.normal.Reset()
	p.auth.Reset()
	p.inAuth = false
}

func (p *policy) NextBackOff() time.Duration {
	if isHeld(p.last) {
		p.inAuth = true
		return p.auth.NextBackOff()
	}
	if p.inAuth { // the credentials work again: a fresh budget for the records
		p.Reset()
		p.budget.deadline = time.Now().Add(p.budget.total)
	}
	remaining := time.Until(p.budget.deadline)
	if remaining <= 0 {
		return backoff.Stop
	}
	d := p.normal.NextBackOff()
	var he *HTTPError
	if errors.As(p.last, &he) && he.RetryAfter > 0 {
		d = he.RetryAfter
	}
	return min(d, remaining)
}

// deliver posts body until it is accepted, refused for good, the budget is spent or ctx ends,
// counting attempts and failures in res. It returns the last error, nil on success.
// b is the budget of the chunk body belongs to.
func (s *Sender) deliver(ctx context.Context, recs []batcher.Record, body []byte, res []Result, b *budget) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if err := s.auth.admit(ctx); err != nil {
		return err
	}
	contentMD5 := ContentMD5(body)
	pol := newPolicy(s.cfg, b)
	attempts, probing := 0, false
	defer func() {
		if probing {
			s.auth.leave()
		}
	}()
	op := func() error {
		if attempts++; attempts > 1 {
			s.m.retries.Inc()
		}
		status, err := s.attempt(ctx, body, contentMD5)
		pol.last = err
		now := time.Now()
		for i := range res {
			r := &res[i]
			r.Attempts++
			r.Status, r.Err = status, err
			if err != nil {
				if r.FirstFailure.IsZero() {
					r.FirstFailure = now
				}
				r.LastFailure = now
			}
		}
		switch {
		case err == nil:
			s.auth.ok()
			return nil
		case ctx.Err() != nil:
			return backoff.Permanent(context.Cause(ctx))
		case isHeld(err):
			if !probing {
				probing = true
				s.auth.enter()
			}
			s.auth.fail(err)
			return err
		}
		if status != 0 {
			s.auth.ok() // any other answer proves the credentials
		}
		if IsRetryable(err) {
			return err
		}
		return backoff.Permanent(err)
	}
	notify := func(err error, wait time.Duration) {
		ev := s.log.Warn()
		if isHeld(err) {
			ev = s.log.Error()
		}
		ev.Err(err).Int("attempt", attempts).Dur("wait", wait).Int("records", len(recs)).
			Int("bytes", len(body)).Str("first_distinct_id", recs[0].Key).Msg("SuprSend request failed; retrying")
	}
	return backoff.RetryNotify(op, backoff.WithContext(pol, ctx), notify)
}

// attempt makes one signed POST of body, freshly dated. It returns the HTTP status (0 when
// none) and nil on 2xx, an *HTTPError on other statuses, or the transport error.
func (s *Sender) attempt(ctx context.Context, body []byte, contentMD5 string) (int, error) {
	if s.pace != nil {
		began := time.Now()
		if err := s.pace.Wait(ctx); err != nil {
			// Wait refuses at once a wait that would pass ctx's deadline: never report that
			// as an answer.
			if cause := context.Cause(ctx); cause != nil {
				return 0, cause
			}
			return 0, fmt.Errorf("sender: max_requests_per_second: %w", err)
		}
		s.m.paced.Add(time.Since(began).Seconds())
	}
	actx, cancel := context.WithTimeoutCause(ctx, s.cfg.RequestTimeout, errAttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("sender: build request: %w", err)
	}
	setHeaders(req.Header, s.creds, s.ua, req.Method, req.URL.RequestURI(), contentMD5, time.Now())
	resp, err := s.client.Do(req)
	if err != nil {
		s.m.requests.WithLabelValues(statusClass(0)).Inc()
		if ctx.Err() != nil {
			return 0, context.Cause(ctx)
		}
		if errors.Is(context.Cause(actx), errAttemptTimeout) {
			err = fmt.Errorf("%w: %w", errAttemptTimeout, err)
		}
		return 0, fmt.Errorf("sender: POST %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	s.m.requests.WithLabelValues(statusClass(resp.StatusCode)).Inc()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection
		return resp.StatusCode, nil
	}
	text, _ := io.ReadAll(io.LimitReader(resp.Body, int64(s.cfg.MaxErrorBody)+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	he := &HTTPError{Status: resp.StatusCode, Body: truncate(text, s.cfg.MaxErrorBody)}
	if isRedirect(resp.StatusCode) {
		he.Location = resp.Header.Get("Location")
		if u, err := resp.Location(); err == nil { // made absolute
			he.Location = u.String()
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		he.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return resp.StatusCode, he
}

// truncate keeps at most n bytes of b, marking a cut with "…".
func truncate(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
