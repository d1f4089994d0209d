package hubsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// evAt is an identity event whose $time is ms.
func evAt(ms int64, props string) string {
	return fmt.Sprintf(`{"$schema":"2","$insert_id":"i-%d","$time":%d,"env":%q,"distinct_id":"u","$user_operations":[],"properties":{%s}}`, ms, ms, testKey, props)
}

// TestLatencyRecorderQuantiles: with a fixed arrival time, the quantiles are the latencies
// given, events outside the window count only as seen, and a "$time" inside a string value
// or with whitespace around its colon is read as a JSON reader would.
func TestLatencyRecorderQuantiles(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	var l latencyRecorder
	l.reset(now.UnixMilli()-10_000, now.UnixMilli())
	var events []string
	for i := range 100 { // latencies 1..100 ms
		events = append(events, evAt(now.UnixMilli()-int64(i+1), ""))
	}
	events = append(events,
		evAt(now.UnixMilli()-20_000, ""),                               // before the window: seen only
		evAt(now.UnixMilli()+5, ""),                                    // after it: seen only
		evAt(now.UnixMilli()-50, `"note":"a \"$time\":1 in a string"`), // one event, latency 50
	)
	body := "[" + strings.Join(events, ",") + `,{"$time" :` + fmt.Sprint(now.UnixMilli()-7) + "}]"
	l.record(now, []byte(body))
	got := l.snapshot()
	want := Latency{FromMillis: now.UnixMilli() - 10_000, UntilMillis: now.UnixMilli(), Seen: 104, Events: 102, Requests: 0,
		P50: 50, P90: 90, P99: 99, Max: 100}
	if got != want {
		t.Fatalf("snapshot\n got %+v\nwant %+v", got, want)
	}
	l.record(now.Add(-time.Second), []byte(`[]`)) // a request in the window
	if got := l.snapshot(); got.Requests != 1 {
		t.Fatalf("requests in the window: %d, want 1", got.Requests)
	}
}

// TestRecordLatencyEndpoints: the accept-all sink with RecordLatency records the events it
// accepts; POST /_sim/latency sets the window and forgets what came before; /_sim/reset
// forgets everything; without RecordLatency nothing is recorded.
func TestRecordLatencyEndpoints(t *testing.T) {
	get := func(s *Server) Latency {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/_sim/latency", nil))
		var l Latency
		if err := json.Unmarshal(w.Body.Bytes(), &l); err != nil || w.Code != 200 {
			t.Fatalf("GET /_sim/latency: %d %s (%v)", w.Code, w.Body, err)
		}
		return l
	}
	setWindow := func(s *Server, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/_sim/latency", strings.NewReader(body)))
		return w
	}
	for _, record := range []bool{false, true} {
		s := newTestServer(t, func(c *Config) { c.AcceptAll, c.RecordLatency = true, record })
		old := time.Now().Add(-5 * time.Second).UnixMilli()
		if w := post(s, array(evAt(old, ""), evAt(old, ""))); w.Code != http.StatusAccepted {
			t.Fatalf("post: %d %s", w.Code, w.Body)
		}
		l := get(s)
		if !record {
			if l != (Latency{}) {
				t.Fatalf("without RecordLatency: %+v", l)
			}
			continue
		}
		if l.Seen != 2 || l.Events != 2 || l.Requests != 1 || l.P50 < 5000 || l.P99 < 5000 || l.Max >= latencyMaxMillis {
			t.Fatalf("after one request of two events 5 s old: %+v", l)
		}
		if w := setWindow(s, fmt.Sprintf(`{"from_ms":%d}`, old+1)); w.Code != 200 {
			t.Fatalf("POST /_sim/latency: %d %s", w.Code, w.Body)
		}
		post(s, array(evAt(old, ""), evAt(old+2, "")))
		if l := get(s); l.Seen != 2 || l.Events != 1 || l.FromMillis != old+1 || l.P50 < 4998 {
			t.Fatalf("after the window was set and one event of two fell in it: %+v", l)
		}
		if w := setWindow(s, `{"from_ms":10,"until_ms":5}`); w.Code != 400 || !strings.Contains(w.Body.String(), "until_ms") {
			t.Fatalf("an empty window: %d %s", w.Code, w.Body)
		}
		s.Reset()
		if l := get(s); l != (Latency{}) {
			t.Fatalf("after Reset: %+v", l)
		}
	}
}
