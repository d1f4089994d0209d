package sender

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRedirectIsNeverFollowed: an event POST answered 301 or 302 is not followed (Go's client
// would follow it as a GET without the body, and the 2xx to that GET would mark every record
// delivered though nothing was sent). The records are neither delivered nor failed: the base
// URL is wrong, not the records, so the Sender holds them as it does on 401 and Ready names the
// Location.
func TestRedirectIsNeverFollowed(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var posts, elsewhere atomic.Int64
			mux := http.NewServeMux()
			mux.HandleFunc("/event/", func(w http.ResponseWriter, r *http.Request) {
				posts.Add(1)
				http.Redirect(w, r, "/moved/event/", status)
			})
			mux.HandleFunc("/moved/event/", func(w http.ResponseWriter, r *http.Request) {
				elsewhere.Add(1)
				w.WriteHeader(http.StatusAccepted)
			})
			srv := httptest.NewServer(mux)
			defer srv.Close()
			cfg := Default()
			cfg.InitialInterval, cfg.MaxInterval, cfg.AuthMaxInterval = 10*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
			s, err := New(srv.URL, Credentials{Key: tKey, Secret: tSecret}, WithConfig(cfg))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			res := s.Send(ctx, chunkOf("a", "b"))
			for i, r := range res {
				if r.Outcome != Abandoned {
					t.Errorf("record %d: %s (%v), want abandoned: neither delivered nor dead-lettered", i, r.Outcome, r.Err)
				}
			}
			if n := elsewhere.Load(); n != 0 {
				t.Errorf("the redirect was followed %d times", n)
			}
			if posts.Load() < 2 {
				t.Errorf("%d POSTs, want the request retried while held", posts.Load())
			}
			err = s.Ready()
			if err == nil || !errors.Is(err, ErrRedirected) || !strings.Contains(err.Error(), "/moved/event/") ||
				!strings.Contains(err.Error(), "suprsend.base_url") {
				t.Errorf("Ready() = %v; want ErrRedirected naming the Location and suprsend.base_url", err)
			}
		})
	}
}
