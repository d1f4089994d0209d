package hubsim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

const vectorsPath = "/work/shared/vectors/node-sdk-1.10.0-requests.jsonl"

// TestReplayNodeSDK replays every full-body request the official node SDK sent: each passes the
// signature check with its own Date and is accepted.
func TestReplayNodeSDK(t *testing.T) {
	f, err := os.Open(vectorsPath)
	if err != nil {
		t.Skipf("vectors not available: %v", err)
	}
	defer f.Close()
	s := newTestServer(t, func(c *Config) { c.AcceptAnyDate = true })
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	replayed := 0
	for sc.Scan() {
		var v struct {
			Case    string      `json:"case"`
			Seq     int         `json:"seq"`
			Method  string      `json:"method"`
			Path    string      `json:"path"`
			Headers [][2]string `json:"headers"`
			Body    *string     `json:"body_utf8"`
			Key     string      `json:"workspace_key"`
			Secret  string      `json:"workspace_secret"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		if v.Body == nil || v.Key != testKey || v.Secret != testSecret {
			continue
		}
		r := httptest.NewRequest(v.Method, v.Path, strings.NewReader(*v.Body))
		for _, h := range v.Headers {
			r.Header.Set(h[0], h[1])
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			t.Errorf("seq %d (%s): status %d, body %s", v.Seq, v.Case, w.Code, w.Body)
		}
		replayed++
	}
	if replayed < 12 {
		t.Fatalf("replayed %d requests, expected at least 12 with full bodies", replayed)
	}
	st := s.Stats()
	if st.Accepted != int64(replayed) || len(st.Rejections) != 0 {
		t.Fatalf("stats %+v after %d replays", st, replayed)
	}
	// The node SDK's provider key is $pushvendor; it is stored as the provider.
	p, ok := s.Profile("user_all_ops_1")
	if !ok || len(p.Channels["$androidpush"]) != 3 || p.Channels["$androidpush"][1].Provider != "xiaomi" {
		t.Fatalf("profile user_all_ops_1 androidpush = %+v", p.Channels["$androidpush"])
	}
}

func TestRefusals(t *testing.T) {
	now := time.Now()
	good := ev("u1", "i1", `{"$set":{"a":1}}`)
	big := ev("u1", "i2", `{"$set":{"a":"`+strings.Repeat("x", MaxEventBytes)+`"}}`)
	many := make([]string, MaxEvents+1)
	for i := range many {
		many[i] = ev("u1", "m", `{"$set":{"a":1}}`)
	}
	huge := array(strings.Split(strings.Repeat(big+"\n", 81), "\n")[:81]...)
	tests := []struct {
		name      string
		req       *http.Request
		wantCode  int
		wantCause string
		wantMsg   string
	}{
		{"wrong secret", signed(good, "not-the-secret", now), 401, "auth_signature", "signature mismatch"},
		{"date too old", signed(good, testSecret, now.Add(-16*time.Minute)), 401, "auth_date", "from the server clock"},
		{"date in the future", signed(good, testSecret, now.Add(16*time.Minute)), 401, "auth_date", "from the server clock"},
		{"tampered body", func() *http.Request {
			r := signed(good, testSecret, now)
			r.Body = ioNop(strings.Replace(good, `"a":1`, `"a":2`, 1))
			return r
		}(), 401, "auth_signature", "signature mismatch"},
		{"no authorization", func() *http.Request { r := signed(good, testSecret, now); r.Header.Del("Authorization"); return r }(), 401, "auth_header", "Authorization"},
		{"body over 819200", signed(huge, testSecret, now), 413, "body_too_large", "819200"},
		{"more than 400 events", signed(array(many...), testSecret, now), 400, "too_many_events", "more than 400 events"},
		{"event over 10240 bytes", signed(array(good, big), testSecret, now), 400, "event_too_large", "event 1: event size too big"},
		{"wrong schema", signed(strings.Replace(good, `"$schema":"2"`, `"$schema":"1"`, 1), testSecret, now), 400, "invalid_event", `event 0: $schema must be "2"`},
		{"empty distinct_id", signed(ev(" ", "i", `{"$set":{"a":1}}`), testSecret, now), 400, "invalid_event", "distinct_id must be"},
		{"env not the key", signed(strings.Replace(good, testKey, "OTHER", 1), testSecret, now), 400, "invalid_event", "env must be"},
		{"time not a number", signed(strings.Replace(good, `1700000000000`, `"now"`, 1), testSecret, now), 400, "invalid_event", "$time must be a number"},
		{"unknown op", signed(array(good, ev("u2", "i3", `{"$merge":{"a":1}}`)), testSecret, now), 400, "invalid_event", `event 1: $user_operations[0]: unknown operation "$merge"`},
		{"add not a number", signed(ev("u2", "i3", `{"$add":{"n":"1"}}`), testSecret, now), 400, "invalid_event", "$add.n must be a number"},
		{"unset not strings", signed(ev("u2", "i3", `{"$unset":[1]}`), testSecret, now), 400, "invalid_event", "$unset must be"},
		{"email not a string", signed(ev("u2", "i3", `{"$append":{"$email":5}}`), testSecret, now), 400, "invalid_event", "$append.$email"},
		{"ops not an array", signed(strings.Replace(good, `[{"$set":{"a":1}}]`, `{}`, 1), testSecret, now), 400, "invalid_event", "$user_operations must be"},
		{"not json", signed(`[{"a":`, testSecret, now), 400, "bad_json", "not a JSON event or array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, nil)
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, tt.req)
			var resp struct {
				Message string `json:"message"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &resp)
			if w.Code != tt.wantCode || !strings.Contains(resp.Message, tt.wantMsg) {
				t.Fatalf("got %d %s; want %d containing %q", w.Code, w.Body, tt.wantCode, tt.wantMsg)
			}
			st := s.Stats()
			if st.Rejections[tt.wantCause] != 1 || st.EventsApplied != 0 {
				t.Fatalf("stats %+v; want one %s rejection and nothing applied", st, tt.wantCause)
			}
		})
	}
}

func ioNop(s string) *readCloser { return &readCloser{bytes.NewReader([]byte(s))} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func TestAcceptAnyDate(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.AcceptAnyDate = true })
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, signed(ev("u", "i", `{"$set":{"a":1}}`), testSecret, time.Now().Add(-30*24*time.Hour)))
	if w.Code != http.StatusAccepted || w.Body.String() != "OK" {
		t.Fatalf("old Date with AcceptAnyDate: %d %s", w.Code, w.Body)
	}
}

func TestSplitBody(t *testing.T) {
	for body, want := range map[string]string{
		`{"a":1}`: `[{"a":1}]`,
		` [ {"a":"x,]}"} , {"b":[1,{"c":2}]},"s\"]",3 ] `: `[{"a":"x,]}"} {"b":[1,{"c":2}]} "s\"]" 3]`,
		`[]`:         `[]`,
		`[[1,2],{}]`: `[[1,2] {}]`,
	} {
		raws, rerr := splitBody([]byte(body))
		var parts []string
		for _, r := range raws {
			parts = append(parts, string(r))
		}
		if got := "[" + strings.Join(parts, " ") + "]"; rerr != nil || got != want {
			t.Errorf("splitBody(%s) = %s %v; want %s", body, got, rerr, want)
		}
	}
}

// TestNullUserOperations: the Go SDK 0.5.0 sends "$user_operations": null for a user without
// operations; hubsim takes it as no operations, as the platform does, on both parsing paths.
func TestNullUserOperations(t *testing.T) {
	null := strings.Replace(ev("u-null", "i-null"), `"$user_operations":[]`, `"$user_operations":null`, 1)
	for name, body := range map[string]string{
		"fast path":      array(null),
		"reference path": array(strings.Replace(null, `"u-null"`, `"u-null\u0020"`, 1)), // an escape defers to encoding/json
	} {
		t.Run(name, func(t *testing.T) {
			s := newTestServer(t, nil)
			if w := post(s, body); w.Code != http.StatusAccepted && w.Code != http.StatusOK {
				t.Fatalf("got %d %s; want the event accepted", w.Code, w.Body)
			}
			if st := s.Stats(); st.EventsApplied != 1 || len(st.Rejections) != 0 {
				t.Fatalf("stats %+v; want the event applied", st)
			}
		})
	}
}
