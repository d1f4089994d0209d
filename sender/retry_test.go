package sender

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/profile-ingest/profile-ingest/batcher"
)

const (
	tKey    = "WSKEY_test_0123456789"
	tSecret = "WSSECRET_test_abcdefghijklmnopqrstuvwxyz_0123456789"
)

// step is one scripted answer of fakeAPI.
type step struct {
	status     int
	retryAfter string        // Retry-After header value
	raIn       time.Duration // Retry-After as an HTTP date this far from now
	body       string
	drop       bool // transport error
}

type call struct {
	at   time.Time
	body string
	hdr  http.Header
}

// fakeAPI is an in-memory transport answering from a script (the last step repeats), or from
// answer when set. In-memory, so it runs inside a synctest bubble.
type fakeAPI struct {
	mu     sync.Mutex
	steps  []step
	answer func(body string) step
	calls  []call
}

func (f *fakeAPI) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, call{at: time.Now(), body: string(b), hdr: r.Header.Clone()})
	var st step
	if f.answer != nil {
		st = f.answer(string(b))
	} else {
		st = f.steps[0]
		if len(f.steps) > 1 {
			f.steps = f.steps[1:]
		}
	}
	f.mu.Unlock()
	if st.drop {
		return nil, errors.New("connection reset by peer (simulated)")
	}
	h := http.Header{}
	if st.retryAfter != "" {
		h.Set("Retry-After", st.retryAfter)
	}
	if st.raIn != 0 {
		h.Set("Retry-After", time.Now().Add(st.raIn).UTC().Format(http.TimeFormat))
	}
	return &http.Response{StatusCode: st.status, Header: h, Body: io.NopCloser(strings.NewReader(st.body)), Request: r}, nil
}

func (f *fakeAPI) snapshot() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func testConfig() Config {
	c := Default()
	c.InitialInterval, c.Multiplier, c.RandomizationFactor = time.Second, 2, 0
	c.MaxInterval, c.MaxElapsedTime, c.AuthMaxInterval = 8*time.Second, time.Minute, 2*time.Second
	return c
}

func chunkOf(keys ...string) batcher.Chunk {
	recs := make([]batcher.Record, len(keys))
	for i, k := range keys {
		recs[i] = batcher.Record{Key: k, Body: fmt.Appendf(nil, `{"distinct_id":%q,"n":%d}`, k, i), Ref: uint64(i)}
	}
	return batcher.Chunk{Records: recs, Body: batcher.Encode(recs)}
}

func newFakeSender(t *testing.T, api *fakeAPI, cfg Config, opts ...Option) *Sender {
	t.Helper()
	opts = append([]Option{WithHTTPClient(&http.Client{Transport: api}), WithConfig(cfg), WithUserAgent("profile-ingest/test")}, opts...)
	s, err := New("http://hub.test", Credentials{Key: tKey, Secret: tSecret}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name         string
		mutate       func(*Config)
		steps        []step
		ctxTimeout   time.Duration
		wantOutcome  Outcome
		wantReason   string
		wantStatus   int
		wantWaits    []time.Duration // between consecutive attempts
		wantErrMatch string
	}{
		{"accepted at once", nil, []step{{status: 202}}, 0, Delivered, "", 202, nil, ""},
		{"5xx retried", nil, []step{{status: 500}, {status: 502}, {status: 202}}, 0, Delivered, "", 202, []time.Duration{time.Second, 2 * time.Second}, ""},
		{"408 and transport error retried", nil, []step{{status: 408}, {drop: true}, {status: 202}}, 0, Delivered, "", 202, []time.Duration{time.Second, 2 * time.Second}, ""},
		{"429 Retry-After seconds wins", nil, []step{{status: 429, retryAfter: "7"}, {status: 202}}, 0, Delivered, "", 202, []time.Duration{7 * time.Second}, ""},
		{"503 Retry-After date wins", nil, []step{{status: 503, raIn: 30 * time.Second}, {status: 202}}, 0, Delivered, "", 202, []time.Duration{30 * time.Second}, ""},
		{"Retry-After on 500 ignored", nil, []step{{status: 500, retryAfter: "60"}, {status: 202}}, 0, Delivered, "", 202, []time.Duration{time.Second}, ""},
		{"one wait capped by MaxInterval", func(c *Config) { c.MaxInterval = 3 * time.Second }, []step{{status: 500}, {status: 500}, {status: 500}, {status: 500}, {status: 202}}, 0, Delivered, "", 202,
			[]time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}, ""},
		{"budget spent", func(c *Config) { c.MaxElapsedTime = 5 * time.Second }, []step{{status: 500, body: "boom"}}, 0, Failed, ReasonRetriesExhausted, 500,
			[]time.Duration{time.Second, 2 * time.Second, 2 * time.Second}, "HTTP 500: boom"},
		{"Retry-After cut to the budget", func(c *Config) { c.MaxElapsedTime = 10 * time.Second }, []step{{status: 429, retryAfter: "60"}}, 0, Failed, ReasonRetriesExhausted, 429,
			[]time.Duration{10 * time.Second}, "HTTP 429"},
		{"transport errors until the budget is spent", func(c *Config) { c.MaxElapsedTime = 2 * time.Second }, []step{{drop: true}}, 0, Failed, ReasonRetriesExhausted, 0,
			[]time.Duration{time.Second, time.Second}, "connection reset"},
		{"400 on one record is rejected", nil, []step{{status: 400, body: `{"message":"bad email"}`}}, 0, Failed, ReasonRejected, 400, nil, "bad email"},
		{"context ends while waiting", nil, []step{{status: 500}}, 1500 * time.Millisecond, Abandoned, "", 500, []time.Duration{time.Second}, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				if tt.mutate != nil {
					tt.mutate(&cfg)
				}
				api := &fakeAPI{steps: tt.steps}
				s := newFakeSender(t, api, cfg)
				ctx := t.Context()
				if tt.ctxTimeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
					defer cancel()
				}
				start := time.Now()
				res := s.Send(ctx, chunkOf("u1"))
				r := res[0]
				calls := api.snapshot()
				if r.Outcome != tt.wantOutcome || r.Reason != tt.wantReason || r.Status != tt.wantStatus || r.Attempts != len(calls) {
					t.Fatalf("result %+v after %d calls; want %s %q status %d", r, len(calls), tt.wantOutcome, tt.wantReason, tt.wantStatus)
				}
				if tt.wantErrMatch != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tt.wantErrMatch)) {
					t.Fatalf("Err = %v, want it to contain %q", r.Err, tt.wantErrMatch)
				}
				var waits []time.Duration
				for i := 1; i < len(calls); i++ {
					waits = append(waits, calls[i].at.Sub(calls[i-1].at))
				}
				if fmt.Sprint(waits) != fmt.Sprint(tt.wantWaits) {
					t.Fatalf("waits %v, want %v", waits, tt.wantWaits)
				}
				if len(calls) > 1 && (!r.FirstFailure.Equal(start) || r.LastFailure.Before(calls[len(calls)-2].at)) {
					t.Fatalf("FirstFailure %v LastFailure %v", r.FirstFailure, r.LastFailure)
				}
				for i, c := range calls { // each try is signed afresh, with its own Date
					checkSigned(t, c, "/event/")
					if c.hdr.Get("Date") != FormatDate(c.at) {
						t.Fatalf("call %d Date %q at %v", i, c.hdr.Get("Date"), c.at)
					}
				}
			})
		})
	}
}

func checkSigned(t *testing.T, c call, uri string) {
	t.Helper()
	want := tKey + ":" + Sign(tSecret, "POST", ContentMD5([]byte(c.body)), ContentType, c.hdr.Get("Date"), uri)
	if c.hdr.Get("Authorization") != want || c.hdr.Get("Content-Type") != ContentType || c.hdr.Get("User-Agent") != "profile-ingest/test" {
		t.Fatalf("headers %v; want Authorization %s", c.hdr, want)
	}
	if _, err := time.Parse(DateFormat, c.hdr.Get("Date")); err != nil {
		t.Fatalf("Date %q: %v", c.hdr.Get("Date"), err)
	}
}

// TestSplitOrder: a 4xx on a chunk splits it, the first half resolved before the second starts.
func TestSplitOrder(t *testing.T) {
	api := &fakeAPI{answer: func(body string) step {
		if strings.Contains(body, `"bad"`) {
			return step{status: 422, body: strings.Repeat("x", 2000)}
		}
		return step{status: 202}
	}}
	s := newFakeSender(t, api, testConfig())
	c := chunkOf("a", "bad", "c", "d")
	res := s.Send(t.Context(), c)
	var bodies []string
	for _, call := range api.snapshot() {
		bodies = append(bodies, call.body)
	}
	want := []string{string(c.Body), string(batcher.Encode(c.Records[:2])), string(batcher.Encode(c.Records[:1])),
		string(batcher.Encode(c.Records[1:2])), string(batcher.Encode(c.Records[2:]))}
	if fmt.Sprint(bodies) != fmt.Sprint(want) {
		t.Fatalf("requests\n%v\nwant\n%v", bodies, want)
	}
	wantOutcomes, wantAttempts := []Outcome{Delivered, Failed, Delivered, Delivered}, []int{3, 3, 2, 2}
	for i, r := range res {
		if r.Outcome != wantOutcomes[i] || r.Attempts != wantAttempts[i] {
			t.Errorf("record %d: %+v; want %s after %d attempts", i, r, wantOutcomes[i], wantAttempts[i])
		}
	}
	var he *HTTPError
	if !errors.As(res[1].Err, &he) || he.Status != 422 || res[1].Reason != ReasonRejected || len(he.Body) != 512+len("…") || !errors.Is(res[1].Err, ErrRejected) {
		t.Fatalf("rejected record: %+v (body %d bytes)", res[1], len(he.Body))
	}
}

// TestAuthPause: 401 fails nothing; the sender reports not-ready, holds new chunks back, and
// resumes when the credentials work again. The retry budget does not run meanwhile.
func TestAuthPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		refused := true
		api := &fakeAPI{answer: func(string) step {
			mu.Lock()
			defer mu.Unlock()
			if refused {
				return step{status: 401, body: `{"message":"invalid signature"}`}
			}
			return step{status: 202}
		}}
		reg := prometheus.NewRegistry()
		cfg := testConfig()
		cfg.MaxElapsedTime = time.Second
		s := newFakeSender(t, api, cfg, WithRegisterer(reg))
		resA, resB := make(chan []Result, 1), make(chan []Result, 1)
		go func() { resA <- s.Send(t.Context(), chunkOf("a")) }()
		synctest.Wait()
		if err := s.Ready(); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "401") {
			t.Fatalf("Ready = %v during 401s", err)
		}
		if g := testutil.ToFloat64(s.m.authFailing); g != 1 {
			t.Fatalf("auth_failing = %v", g)
		}
		go func() { resB <- s.Send(t.Context(), chunkOf("b")) }()
		time.Sleep(time.Minute) // far past MaxElapsedTime
		for _, c := range api.snapshot() {
			if strings.Contains(c.body, `"b"`) {
				t.Fatal("a new chunk was sent while the credentials were refused")
			}
		}
		if n := len(api.snapshot()); n < 10 || n > 40 {
			t.Fatalf("%d probes in a minute; AuthMaxInterval is 2s", n)
		}
		mu.Lock()
		refused = false
		mu.Unlock()
		a, b := <-resA, <-resB
		if a[0].Outcome != Delivered || b[0].Outcome != Delivered || b[0].Attempts != 1 {
			t.Fatalf("after recovery: a %+v, b %+v", a[0], b[0])
		}
		if err := s.Ready(); err != nil {
			t.Fatalf("Ready = %v after recovery", err)
		}
		if g := testutil.ToFloat64(s.m.authFailing); g != 0 {
			t.Fatalf("auth_failing = %v after recovery", g)
		}
		if n := testutil.ToFloat64(s.m.records.WithLabelValues("delivered", "")); n != 2 {
			t.Fatalf("records_total{delivered} = %v", n)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"default", func(*Config) {}, ""},
		{"no initial interval", func(c *Config) { c.InitialInterval = 0 }, "InitialInterval 0s"},
		{"shrinking multiplier", func(c *Config) { c.Multiplier = 0.5 }, "Multiplier 0.5"},
		{"jitter 1", func(c *Config) { c.RandomizationFactor = 1 }, "RandomizationFactor 1"},
		{"max below initial", func(c *Config) { c.MaxInterval = time.Millisecond }, "MaxInterval 1ms"},
		{"no budget", func(c *Config) { c.MaxElapsedTime = 0 }, "MaxElapsedTime 0s"},
		{"no in flight", func(c *Config) { c.MaxInFlight = 0 }, "MaxInFlight 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			_, err := New("https://hub.suprsend.com", Credentials{Key: "k", Secret: "s"}, WithConfig(c))
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("New error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestEventURL(t *testing.T) {
	for base, want := range map[string]string{
		"https://hub.suprsend.com":      "https://hub.suprsend.com/event/",
		"https://hub.suprsend.com/":     "https://hub.suprsend.com/event/",
		"http://127.0.0.1:8710/prefix":  "http://127.0.0.1:8710/prefix/event/",
		"http://127.0.0.1:8710/prefix/": "http://127.0.0.1:8710/prefix/event/",
	} {
		s, err := New(base, Credentials{Key: "k", Secret: "s"})
		if err != nil || s.URL() != want {
			t.Errorf("New(%q).URL() = %v, %v; want %s", base, s.URL(), err, want)
		}
	}
}

// TestRetryBudgetIsPerChunk: sender.retry_max_elapsed bounds a chunk, not each part of a split
// chunk: a chunk split to isolate a refused record, whose parts then meet 5xx, gives up on
// them all once the chunk's budget is spent, not a fresh budget per part.
func TestRetryBudgetIsPerChunk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{answer: func(body string) step {
			if strings.Count(body, "distinct_id") == 4 {
				return step{status: 400, body: "one record is refused"}
			}
			return step{status: 503}
		}}
		cfg := testConfig()
		cfg.MaxElapsedTime = 10 * time.Second
		s := newFakeSender(t, api, cfg)
		start := time.Now()
		res := s.Send(t.Context(), chunkOf("a", "b", "c", "d"))
		if took := time.Since(start); took > cfg.MaxElapsedTime {
			t.Errorf("Send gave up after %s, want at most the chunk's budget %s", took, cfg.MaxElapsedTime)
		}
		for i, r := range res {
			if r.Outcome != Failed || r.Reason != ReasonRetriesExhausted {
				t.Errorf("record %d: %+v, want retries_exhausted", i, r)
			}
		}
	})
}
