package hubsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// latencyMaxMillis is the histogram's last bucket: latencies from it up are counted there.
const latencyMaxMillis = 60_000

// Latency is the end-to-end latency of the events received (Config.RecordLatency): for each
// event, its arrival time minus its "$time" (epoch milliseconds; the worker sets it from the
// Kafka record's timestamp when the message has no "time", so a producer that stamps its
// records measures produce → sink). Only events whose $time falls in the window [FromMillis,
// UntilMillis) are in the quantiles, and only requests that arrive in it are in Requests; a
// zero bound is open. Quantiles have 1 ms resolution (a value v means v to v+1 ms, plus up to
// 1 ms of $time's truncation); latencies of 60 s or more count as 60,000.
type Latency struct {
	FromMillis  int64 `json:"from_ms"`
	UntilMillis int64 `json:"until_ms"`
	Seen        int64 `json:"seen"`     // events received since the last reset, in the window or not
	Events      int64 `json:"events"`   // events in the window
	Requests    int64 `json:"requests"` // requests that arrived in the window
	P50         int64 `json:"p50_ms"`
	P90         int64 `json:"p90_ms"`
	P99         int64 `json:"p99_ms"`
	Max         int64 `json:"max_ms"`
}

// latencyRecorder is a histogram of latencies by millisecond, for one window.
type latencyRecorder struct {
	mu                 sync.Mutex
	from, until        int64
	seen, events, reqs int64
	max                int64
	buckets            []int64 // buckets[ms]: events whose latency was ms milliseconds
}

// reset forgets every count and sets the window.
func (l *latencyRecorder) reset(from, until int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.from, l.until = from, until
	l.seen, l.events, l.reqs, l.max = 0, 0, 0, 0
	clear(l.buckets)
}

// inWindow reports whether the millisecond ms is in [from, until).
func (l *latencyRecorder) inWindow(ms int64) bool {
	return (l.from == 0 || ms >= l.from) && (l.until == 0 || ms < l.until)
}

// record counts one request that arrived at now and the "$time" of every event in body.
func (l *latencyRecorder) record(now time.Time, body []byte) {
	nowMs := now.UnixMilli()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = make([]int64, latencyMaxMillis+1)
	}
	if l.inWindow(nowMs) {
		l.reqs++
	}
	eachEventTime(body, func(t int64) {
		l.seen++
		if !l.inWindow(t) {
			return
		}
		d := min(max(nowMs-t, 0), latencyMaxMillis)
		l.events++
		l.buckets[d]++
		l.max = max(l.max, d)
	})
}

// snapshot returns the counts and quantiles.
func (l *latencyRecorder) snapshot() Latency {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := Latency{FromMillis: l.from, UntilMillis: l.until, Seen: l.seen, Events: l.events, Requests: l.reqs, Max: l.max}
	if l.events == 0 {
		return out
	}
	q := []struct {
		p   float64
		dst *int64
	}{{0.50, &out.P50}, {0.90, &out.P90}, {0.99, &out.P99}}
	var cum int64
	i := 0
	for ms, n := range l.buckets {
		cum += n
		for i < len(q) && float64(cum) >= q[i].p*float64(l.events) {
			*q[i].dst = int64(ms)
			i++
		}
		if i == len(q) {
			break
		}
	}
	return out
}

var timeField = []byte(`"$time"`)

// eachEventTime calls fn with the value of every `"$time": <digits>` in body (inside a JSON
// string the quotes would be escaped, so a string value never matches). It is a scan, not a
// parse: the sink it serves (RecordLatency) may be the accept-all one, which parses nothing.
func eachEventTime(body []byte, fn func(ms int64)) {
	for {
		i := bytes.Index(body, timeField)
		if i < 0 {
			return
		}
		body = body[i+len(timeField):]
		j := skipSpace(body, 0)
		if j == len(body) || body[j] != ':' {
			continue
		}
		j = skipSpace(body, j+1)
		var v int64
		k := j
		for k < len(body) && body[k] >= '0' && body[k] <= '9' && k-j < 18 {
			v = v*10 + int64(body[k]-'0')
			k++
		}
		if k > j {
			fn(v)
		}
		body = body[k:]
	}
}

// skipSpace returns the index of the first byte of b from i that is not JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// Latency returns the latency recorded in the current window (Config.RecordLatency).
func (s *Server) Latency() Latency { return s.latency.snapshot() }

// SetLatencyWindow forgets the latency recorded so far and counts, from now on, only events
// whose $time is in [from, until) and requests that arrive in it (a zero bound is open).
func (s *Server) SetLatencyWindow(from, until time.Time) {
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	s.latency.reset(ms(from), ms(until))
}

// handleLatencyWindow is POST /_sim/latency {"from_ms": …, "until_ms": …}: SetLatencyWindow.
func (s *Server) handleLatencyWindow(w http.ResponseWriter, r *http.Request) {
	var win struct {
		From  int64 `json:"from_ms"`
		Until int64 `json:"until_ms"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<12))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&win); err != nil && !errors.Is(err, io.EOF) {
		writeJSON(w, 400, map[string]string{"message": "latency window: " + err.Error()})
		return
	}
	if win.From < 0 || win.Until < 0 || (win.Until != 0 && win.Until <= win.From) {
		writeJSON(w, 400, map[string]string{"message": fmt.Sprintf("latency window: from_ms %d, until_ms %d: want 0 <= from_ms < until_ms (epoch milliseconds; 0: open)", win.From, win.Until)})
		return
	}
	s.latency.reset(win.From, win.Until)
	writeJSON(w, 200, s.Latency())
}
