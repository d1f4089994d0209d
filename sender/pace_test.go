package sender

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// MaxRequestsPerSecond spaces every HTTP attempt of the Sender, retries included, whatever
// number of chunks are sent at once.
func TestMaxRequestsPerSecondPacesAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxRequestsPerSecond = 4
		first := true
		var mu sync.Mutex
		api := &fakeAPI{answer: func(string) step {
			mu.Lock()
			defer mu.Unlock()
			if first { // one 503, so that a retry is paced too
				first = false
				return step{status: 503, retryAfter: "0"}
			}
			return step{status: 202}
		}}
		reg := prometheus.NewRegistry()
		s := newFakeSender(t, api, cfg, WithRegisterer(reg))
		var wg sync.WaitGroup
		for i := range 5 {
			wg.Go(func() {
				if r := s.Send(t.Context(), chunkOf(fmt.Sprint("u", i))); r[0].Outcome != Delivered {
					t.Errorf("chunk %d: %+v", i, r[0])
				}
			})
		}
		wg.Wait()
		calls := api.snapshot()
		if len(calls) != 6 {
			t.Fatalf("%d calls, want 6 (5 chunks and one retry)", len(calls))
		}
		for i := 1; i < len(calls); i++ {
			if gap := calls[i].at.Sub(calls[i-1].at); gap < 250*time.Millisecond {
				t.Errorf("calls %d and %d %s apart, want at least 250ms at 4 requests/s", i-1, i, gap)
			}
		}
		if total := calls[5].at.Sub(calls[0].at); total != 5*250*time.Millisecond {
			t.Errorf("6 calls over %s, want 1.25s at 4 requests/s", total)
		}
		if waited := testutil.ToFloat64(s.m.paced); waited <= 0 {
			t.Errorf("rate_limit_wait_seconds_total = %g, want the time spent waiting", waited)
		}
	})
}

// A context whose deadline comes before the next slot: the records are not sent and not
// reported delivered.
func TestPacingNeverReportsAnUnsentChunkDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxRequestsPerSecond = 0.1 // one request every 10s
		api := &fakeAPI{steps: []step{{status: 202}}}
		s := newFakeSender(t, api, cfg)
		if r := s.Send(t.Context(), chunkOf("first")); r[0].Outcome != Delivered {
			t.Fatalf("first chunk: %+v", r[0])
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		r := s.Send(ctx, chunkOf("second"))
		if r[0].Outcome == Delivered || len(api.snapshot()) != 1 {
			t.Fatalf("second chunk %+v after %d calls: it could not be sent before its deadline", r[0], len(api.snapshot()))
		}
	})
}
