package sender

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Sentinel errors callers branch on.
var (
	// ErrUnauthorized is wrapped by an *HTTPError with status 401 or 403 and by Ready while the
	// API refuses the credentials.
	ErrUnauthorized = errors.New("sender: credentials refused")
	// ErrRejected is wrapped by an *HTTPError with a non-retryable status (400, 413, 422, …):
	// the API refuses the records, not the request.
	ErrRejected = errors.New("sender: records rejected")
	// ErrRedirected is wrapped by an *HTTPError with a 3xx status: an event POST is never
	// redirected, so the base URL is wrong. Like ErrUnauthorized it fails no record: the
	// Sender holds the records and retries until the configuration is fixed.
	ErrRedirected = errors.New("sender: the API redirects the event requests")
)

// HTTPError is a non-2xx answer from the API.
type HTTPError struct {
	Status int
	// Body is the start of the response body (Config.MaxErrorBody bytes at most).
	Body string
	// RetryAfter is the wait the server asked for on a 429 or 503, 0 when none.
	RetryAfter time.Duration
	// Location is where a 3xx answer pointed (never followed), "" otherwise.
	Location string
}

func (e *HTTPError) Error() string {
	if isRedirect(e.Status) {
		return fmt.Sprintf("suprsend: HTTP %d redirecting the event POST to %q: the base URL is wrong (suprsend.base_url); "+
			"an event POST is never redirected", e.Status, e.Location)
	}
	if e.Body == "" {
		return fmt.Sprintf("suprsend: HTTP %d", e.Status)
	}
	return fmt.Sprintf("suprsend: HTTP %d: %s", e.Status, e.Body)
}

// Unwrap returns ErrUnauthorized for 401/403, ErrRedirected for 3xx, ErrRejected for other
// non-retryable statuses.
func (e *HTTPError) Unwrap() error {
	switch {
	case isAuthStatus(e.Status):
		return ErrUnauthorized
	case isRedirect(e.Status):
		return ErrRedirected
	case !retryableStatus(e.Status):
		return ErrRejected
	}
	return nil
}

func isAuthStatus(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusForbidden
}

func isRedirect(status int) bool { return status >= 300 && status < 400 }

func retryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// IsRetryable reports whether the same request may succeed later without change: transport
// errors, 408, 429 and 5xx. It is false for 401/403 (see IsAuthFailure), for other 4xx and for
// context cancellation.
func IsRetryable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, errAttemptTimeout):
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return retryableStatus(he.Status)
	}
	return true // transport error
}

// IsAuthFailure reports whether err is the API refusing the credentials (401/403).
func IsAuthFailure(err error) bool { return errors.Is(err, ErrUnauthorized) }

// isHeld reports whether err says the configuration is wrong, not the records: the
// credentials are refused (401/403) or the base URL redirects (3xx). Such records are held
// and retried until it is fixed, never failed.
func isHeld(err error) bool { return IsAuthFailure(err) || errors.Is(err, ErrRedirected) }

// errAttemptTimeout marks an attempt cut by Config.RequestTimeout, which is retryable, unlike
// the end of the caller's context.
var errAttemptTimeout = errors.New("sender: request timed out")

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// errEarlierAbandoned is the error of a chunk abandoned unsent because an earlier chunk sharing
// a key with it was abandoned.
var errEarlierAbandoned = errors.New("sender: an earlier chunk for the same distinct_id was abandoned")
