package hubsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestFaults(t *testing.T) {
	body := ev("u1", "i1", `{"$set":{"a":1}}`)
	tests := []struct {
		name       string
		faults     Faults
		body       string
		wantCode   int
		wantHeader [2]string
		wantMsg    string
	}{
		{"none", Faults{}, body, 202, [2]string{}, ""},
		{"5xx", Faults{ErrorRate: 1, ErrorStatus: 502}, body, 502, [2]string{}, "simulated server error"},
		{"503 with Retry-After", Faults{ErrorRate: 1, RetryAfter: Duration(2500 * time.Millisecond)}, body, 503, [2]string{"Retry-After", "3"}, ""},
		{"429 with Retry-After", Faults{ThrottleRate: 1, RetryAfter: Duration(4 * time.Second)}, body, 429, [2]string{"Retry-After", "4"}, "too many requests"},
		{"auth outage", Faults{AuthOutage: true}, body, 401, [2]string{}, "simulated outage"},
		{"refused distinct_id", Faults{RejectDistinctID: `^bad-`, RejectMessage: "user is blocked"},
			array(ev("ok-1", "a", `{"$set":{"a":1}}`), ev("bad-7", "b", `{"$set":{"a":1}}`)), 400, [2]string{},
			`event 1: distinct_id "bad-7": user is blocked`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, func(c *Config) { c.Faults = tt.faults })
			w := post(s, tt.body)
			var resp struct {
				Message string `json:"message"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &resp)
			if w.Code != tt.wantCode || !strings.Contains(resp.Message, tt.wantMsg) {
				t.Fatalf("got %d %s; want %d with %q", w.Code, w.Body, tt.wantCode, tt.wantMsg)
			}
			if h := tt.wantHeader; h[0] != "" && w.Header().Get(h[0]) != h[1] {
				t.Fatalf("%s = %q, want %q", h[0], w.Header().Get(h[0]), h[1])
			}
		})
	}
}

// TestFaultsSeeded: the same seed gives the same faults to the same sequence of requests.
func TestFaultsSeeded(t *testing.T) {
	run := func(seed uint64) string {
		s := newTestServer(t, func(c *Config) { c.Faults = Faults{ErrorRate: 0.3, ThrottleRate: 0.3, Seed: seed} })
		var codes []string
		for i := range 60 {
			codes = append(codes, fmt.Sprint(post(s, ev("u", fmt.Sprint(i), `{"$set":{"a":1}}`)).Code))
		}
		return strings.Join(codes, ",")
	}
	a, b, c := run(42), run(42), run(7)
	if a != b {
		t.Fatalf("same seed, different faults:\n%s\n%s", a, b)
	}
	if a == c {
		t.Fatal("different seeds gave the same faults")
	}
	for _, code := range []string{"202", "503", "429"} {
		if !strings.Contains(a, code) {
			t.Fatalf("no %s among %s", code, a)
		}
	}
}

func TestFaultLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTestServer(t, func(c *Config) { c.Faults = Faults{Latency: Duration(2 * time.Second)} })
		start := time.Now()
		if w := post(s, ev("u", "i", `{"$set":{"a":1}}`)); w.Code != 202 {
			t.Fatalf("status %d", w.Code)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Fatalf("answered after %s, want 2s", d)
		}
	})
}

// postOverTCP sends body, signed, to a server started on a loopback port with faults f; it
// fails t if the server answers (both faults close the connection without an answer).
func postOverTCP(t *testing.T, f Faults, body string) *Server {
	t.Helper()
	s := newTestServer(t, func(c *Config) { c.Faults = f })
	run, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	r := signed(body, testSecret, time.Now())
	req, _ := http.NewRequest(r.Method, run.URL+"event/", r.Body)
	req.Header = r.Header
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("faults %+v: the request was answered %d, want a closed connection", f, resp.StatusCode)
	}
	return s
}

func TestFaultDrop(t *testing.T) {
	s := postOverTCP(t, Faults{DropRate: 1}, ev("u", "i", `{"$set":{"a":1}}`))
	if st := s.Stats(); st.Rejections["fault_drop"] != 1 || st.EventsApplied != 0 {
		t.Fatalf("stats %+v, want one fault_drop and nothing applied", st)
	}
}

// A lost response: the events are applied, the client hears nothing, and its resend of the
// same $insert_id is a duplicate, not a second application.
func TestFaultLostResponse(t *testing.T) {
	body := ev("u", "i-1", `{"$add":{"n":1}}`)
	s := postOverTCP(t, Faults{LostResponseRate: 1}, body)
	if p, ok := s.Profile("u"); !ok || fmt.Sprint(p.Properties["n"]) != "1" {
		t.Fatalf("profile after a lost response: %+v, want n = 1 (applied)", p)
	}
	if err := s.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	if w := post(s, body); w.Code != 202 {
		t.Fatalf("resend answered %d", w.Code)
	}
	p, _ := s.Profile("u")
	st := s.Stats()
	if fmt.Sprint(p.Properties["n"]) != "1" || st.EventsApplied != 1 || st.Duplicates != 1 || st.LostResponses != 1 || st.Accepted != 1 {
		t.Fatalf("after the resend: n = %v, stats %+v; want n = 1, 1 applied, 1 duplicate, 1 lost response, 1 accepted", p.Properties["n"], st)
	}
}

// TestControlEndpoints drives faults, profiles, stats and reset over HTTP, as a demo would.
func TestControlEndpoints(t *testing.T) {
	s := newTestServer(t, nil)
	h := s.Handler()
	do := func(method, path, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
		return w
	}
	if w := do("POST", "/_sim/faults", `{"auth_outage":true}`); w.Code != 200 || !strings.Contains(w.Body.String(), `"auth_outage":true`) {
		t.Fatalf("set faults: %d %s", w.Code, w.Body)
	}
	if w := post(s, ev("u/1", "i", `{"$set":{"a":1}}`)); w.Code != 401 {
		t.Fatalf("during outage: %d", w.Code)
	}
	if w := do("POST", "/_sim/faults", `{"error_rate":2}`); w.Code != 400 {
		t.Fatalf("invalid faults accepted: %d", w.Code)
	}
	if w := do("POST", "/_sim/faults", `{}`); w.Code != 200 {
		t.Fatalf("clear faults: %d", w.Code)
	}
	if w := do("GET", "/_sim/faults", ``); w.Code != 200 || strings.Contains(w.Body.String(), "auth_outage") {
		t.Fatalf("get faults: %d %s", w.Code, w.Body)
	}
	if w := post(s, ev("u/1", "i", `{"$set":{"a":1}}`)); w.Code != 202 {
		t.Fatalf("after outage: %d", w.Code)
	}
	if w := do("GET", "/_sim/profiles/u/1", ``); w.Code != 200 || !strings.Contains(w.Body.String(), `"a":1`) {
		t.Fatalf("profile: %d %s", w.Code, w.Body)
	}
	w := do("GET", "/_sim/stats", ``)
	var st Stats
	_ = json.NewDecoder(w.Body).Decode(&st)
	if st.Requests != 2 || st.EventsApplied != 1 || st.Rejections["fault_auth_outage"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	if w := do("POST", "/_sim/reset", ``); w.Code != 200 {
		t.Fatalf("reset: %d", w.Code)
	}
	if w := do("GET", "/_sim/profiles/u/1", ``); w.Code != 404 {
		t.Fatalf("profile after reset: %d", w.Code)
	}
	_, _ = io.Copy(io.Discard, w.Body)
}

// TestAcceptAllAnswers202WithoutChecking: the benchmark's cheapest sink answers 202 to a
// request with a bad signature and a body that is not JSON, counts it, and applies nothing;
// without AcceptAll the same request is refused.
func TestAcceptAllAnswers202WithoutChecking(t *testing.T) {
	for _, acceptAll := range []bool{false, true} {
		s := newTestServer(t, func(c *Config) { c.AcceptAll = acceptAll })
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, signed(`not json`, "a wrong secret", time.Now()))
		if got := w.Code == http.StatusAccepted; got != acceptAll {
			t.Fatalf("AcceptAll=%v: answered %d %s", acceptAll, w.Code, w.Body)
		}
		if st := s.Stats(); st.Requests != 1 || st.EventsApplied != 0 || acceptAll && st.Accepted != 1 {
			t.Fatalf("AcceptAll=%v: stats %+v", acceptAll, st)
		}
	}
}
