package hubsim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkHubsimBulk posts signed 400-event chunks (~300-byte events, 100 users) in-process
// and reports events/s; every event has a new $insert_id, so each is applied.
func BenchmarkHubsimBulk(b *testing.B) {
	s := newTestServer(b, func(c *Config) { c.KeepInsertIDs = 0 })
	h := s.Handler()
	const perChunk = 400
	n := 0
	chunk := func() string {
		evs := make([]string, perChunk)
		for i := range evs {
			n++
			evs[i] = ev(fmt.Sprintf("user-%d", n%100), fmt.Sprintf("bench-%012d", n),
				`{"$set":{"name":"User","plan":"pro"}}`, `{"$add":{"logins":1}}`, `{"$append":{"$email":"user@example.com"}}`)
		}
		return array(evs...)
	}
	b.ReportAllocs()
	var events int
	start := time.Now()
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		r := signed(chunk(), testSecret, time.Now())
		w := httptest.NewRecorder()
		b.StartTimer()
		t0 := time.Now()
		h.ServeHTTP(w, r)
		elapsed += time.Since(t0)
		if w.Code != http.StatusAccepted {
			b.Fatalf("%d %s", w.Code, strings.TrimSpace(w.Body.String()))
		}
		events += perChunk
	}
	_ = start
	b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
}
