package sender

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/profile-ingest/profile-ingest/batcher"
)

// DefaultBaseURL is SuprSend's API base; the event endpoint is DefaultBaseURL + "event/".
const DefaultBaseURL = "https://hub.suprsend.com/"

// Outcome is the fate of one record after Send.
type Outcome int

const (
	// Delivered means the API accepted the request that carried the record.
	Delivered Outcome = iota + 1
	// Failed means the record will not be delivered: give it to the dead-letter topic.
	Failed
	// Abandoned means the context ended before the record's fate was known: the caller must
	// neither commit nor dead-letter it; it will be redelivered.
	Abandoned
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Failed:
		return "failed"
	case Abandoned:
		return "abandoned"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Failure reasons in Result.Reason.
const (
	ReasonRejected         = "rejected"          // a non-retryable 4xx isolated to this record
	ReasonRetriesExhausted = "retries_exhausted" // transport errors, 408, 429 or 5xx until the budget ran out
)

// Result is the fate of one record of a chunk.
type Result struct {
	Outcome      Outcome
	Reason       string    // "" when delivered; ReasonRejected or ReasonRetriesExhausted when failed
	Status       int       // last HTTP status, 0 when none (transport error)
	Err          error     // last error; for rejected: an *HTTPError with status and truncated body
	Attempts     int       // HTTP attempts that included this record
	FirstFailure time.Time // zero when it never failed
	LastFailure  time.Time
}

// Sender posts chunks to SuprSend. It is safe for concurrent use.
type Sender struct {
	cfg    Config
	creds  Credentials
	url    string // {base}event/
	client *http.Client
	ua     string
	log    zerolog.Logger
	m      *metrics
	auth   authGate
	pace   *rate.Limiter // nil: no limit
}

// Option sets an optional collaborator of New.
type Option func(*options)

type options struct {
	client *http.Client
	cfg    Config
	log    zerolog.Logger
	reg    prometheus.Registerer
	ua     string
}

// WithHTTPClient sets the HTTP client; its transport is wrapped for metrics. Default: a client
// with a clone of http.DefaultTransport that keeps Config.MaxInFlight idle connections to the
// API (Config.RequestTimeout bounds each attempt).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithConfig sets the retry policy and limits. Default: Default().
func WithConfig(c Config) Option { return func(o *options) { o.cfg = c } }

// WithLogger sets the logger. Default: zerolog.Nop().
func WithLogger(l zerolog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegisterer registers the Sender's metrics. Default: none (metrics are kept, not exported).
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }

// WithUserAgent sets the User-Agent header, e.g. buildinfo.UserAgent(). Default: "profile-ingest".
func WithUserAgent(ua string) Option { return func(o *options) { o.ua = ua } }

// New returns a Sender posting to baseURL + "event/" (a missing trailing "/" is added, as the
// SDKs do) signed with creds.
func New(baseURL string, creds Credentials, opts ...Option) (*Sender, error) {
	o := options{cfg: Default(), log: zerolog.Nop(), ua: "profile-ingest"}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.cfg.Validate(); err != nil {
		return nil, err
	}
	if err := creds.Validate(); err != nil {
		return nil, err
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sender: base URL %q must be an absolute http(s) URL", baseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u = u.JoinPath("event") // JoinPath drops the trailing slash
	u.Path += "/"
	m, err := newMetrics(o.reg)
	if err != nil {
		return nil, fmt.Errorf("sender: register metrics: %w", err)
	}
	client := &http.Client{Transport: newTransport(o.cfg.MaxInFlight)}
	if o.client != nil {
		c := *o.client
		client = &c
	}
	client.Transport = m.instrument(client.Transport)
	// Never follow a redirect: Go's client would follow a 301/302 as a GET without the body,
	// and its 2xx would mark every record delivered though nothing was sent. A 3xx is an error
	// (ErrRedirected) that holds the records until suprsend.base_url is fixed.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s := &Sender{cfg: o.cfg, creds: creds, url: u.String(), client: client, ua: o.ua, log: o.log, m: m}
	if o.cfg.MaxRequestsPerSecond > 0 {
		s.pace = rate.NewLimiter(rate.Limit(o.cfg.MaxRequestsPerSecond), 1)
	}
	s.auth.init(m, &s.log)
	return s, nil
}

// newTransport is http.DefaultTransport keeping up to maxInFlight idle connections to the API
// instead of its 2: with more chunks in flight than that, every answer past the second closed
// its connection and the next request opened a new one (a TLS handshake each, in production).
func newTransport(maxInFlight int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = maxInFlight
	t.MaxIdleConns = max(t.MaxIdleConns, maxInFlight)
	return t
}

// URL is the endpoint chunks are posted to.
func (s *Sender) URL() string { return s.url }

// Config returns the Sender's configuration.
func (s *Sender) Config() Config { return s.cfg }

// Ready returns nil unless the API is refusing the credentials (401/403) or redirecting the
// requests (3xx: the base URL is wrong), in which case it returns an error wrapping
// ErrUnauthorized or ErrRedirected; nothing is failed meanwhile, and new chunks wait.
func (s *Sender) Ready() error { return s.auth.ready() }

// Send posts c and returns len(c.Records) results in the same order. It retries and splits as
// the package documentation says and returns when every record is delivered, failed or, once
// ctx ends, abandoned. c.Body must be batcher.Encode(c.Records); when nil it is built.
func (s *Sender) Send(ctx context.Context, c batcher.Chunk) []Result {
	results := make([]Result, len(c.Records))
	if len(c.Records) == 0 {
		return results
	}
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()
	body := c.Body
	if body == nil {
		body = batcher.Encode(c.Records)
	}
	s.sendPart(ctx, c.Records, body, results, newBudget(s.cfg.MaxElapsedTime))
	// Counted by runs of one outcome (usually the whole chunk): a label lookup per record
	// costs the hot path.
	for i := 0; i < len(results); {
		r, n := results[i], 1
		for i+n < len(results) && results[i+n].Outcome == r.Outcome && results[i+n].Reason == r.Reason {
			n++
		}
		s.m.records.WithLabelValues(r.Outcome.String(), r.Reason).Add(float64(n))
		i += n
	}
	return results
}

// sendPart delivers recs (whose encoding is body) and fills res, splitting on rejection; the
// parts share b, the chunk's retry budget.
func (s *Sender) sendPart(ctx context.Context, recs []batcher.Record, body []byte, res []Result, b *budget) {
	err := s.deliver(ctx, recs, body, res, b)
	var he *HTTPError
	errors.As(err, &he)
	switch {
	case err == nil:
		for i := range res {
			res[i].Outcome, res[i].Err = Delivered, nil
		}
	case ctx.Err() != nil:
		for i := range res {
			res[i].Outcome, res[i].Reason, res[i].Err = Abandoned, "", context.Cause(ctx)
		}
	case he != nil && errors.Is(err, ErrRejected):
		if len(recs) == 1 {
			res[0].Outcome, res[0].Reason, res[0].Err = Failed, ReasonRejected, he
			s.log.Warn().Str("distinct_id", recs[0].Key).Uint64("ref", recs[0].Ref).Int("status", he.Status).
				Str("body", he.Body).Msg("record rejected by SuprSend")
			return
		}
		// Not every record of the body is to blame: send each half, the first one resolved
		// before the second starts so a user's events keep their order.
		s.m.splits.Inc()
		mid := len(recs) / 2
		s.log.Debug().Int("status", he.Status).Int("records", len(recs)).Msg("request rejected; splitting it to isolate the refused records")
		s.sendPart(ctx, recs[:mid], batcher.Encode(recs[:mid]), res[:mid], b)
		s.sendPart(ctx, recs[mid:], batcher.Encode(recs[mid:]), res[mid:], b)
	default:
		for i := range res {
			res[i].Outcome, res[i].Reason, res[i].Err = Failed, ReasonRetriesExhausted, err
		}
		s.log.Error().Err(err).Int("records", len(recs)).Int("attempts", res[0].Attempts).
			Msg("giving up on records after retries")
	}
}
