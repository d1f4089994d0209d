//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// Hub is the worker's SuprSend for a test: a hubsim the test started, either as a process of its
// own (StartHubsim), so that neither the race detector nor the test's own work slows it when
// throughput matters, or in the test's process (StartHubsimInProcess). Both are driven over
// HTTP, through the same /_sim endpoints a demo uses.
type Hub struct {
	t    testing.TB
	URL  string // the base URL, "http://127.0.0.1:port/"
	proc *Process
}

var listeningAddr = regexp.MustCompile(`"addr":"(127\.0\.0\.1:\d+)"`)

// StartHubsim starts cmd/hubsim on a free loopback port with key and secret, keeping every
// applied insert id per profile, with faults injected from the start.
func StartHubsim(t testing.TB, key, secret string, f hubsim.Faults) *Hub {
	t.Helper()
	args := []string{"--addr", "127.0.0.1:0", "--key", key, "--keep-insert-ids", "1000000",
		"--error-rate", fmt.Sprint(f.ErrorRate), "--throttle-rate", fmt.Sprint(f.ThrottleRate),
		"--drop-rate", fmt.Sprint(f.DropRate), "--lost-response-rate", fmt.Sprint(f.LostResponseRate), "--latency", time.Duration(f.Latency).String(),
		"--latency-jitter", time.Duration(f.LatencyJitter).String(), "--seed", strconv.FormatUint(f.Seed, 10)}
	if f.RetryAfter > 0 {
		args = append(args, "--retry-after", time.Duration(f.RetryAfter).String())
	}
	if f.ErrorStatus != 0 {
		args = append(args, "--error-status", strconv.Itoa(f.ErrorStatus))
	}
	if f.AuthOutage {
		args = append(args, "--auth-outage")
	}
	if f.RejectDistinctID != "" {
		args = append(args, "--reject-distinct-id", f.RejectDistinctID)
	}
	p := Start(t, []string{"HUBSIM_SECRET=" + secret}, Binary(t, "hubsim"), args...)
	h := &Hub{t: t, proc: p}
	Eventually(t, 10*time.Second, "hubsim listening", func() bool {
		if m := listeningAddr.FindStringSubmatch(p.Output()); m != nil {
			h.URL = "http://" + m[1] + "/"
			return true
		}
		return p.Exited()
	})
	if h.URL == "" {
		t.Fatalf("hubsim exited: %s", p.Output())
	}
	return h
}

// StartHubsimInProcess serves package hubsim on a free loopback port in the test's process, with
// key and secret, keeping every applied insert id per profile, with faults injected from the
// start. It stops when t ends.
func StartHubsimInProcess(t testing.TB, key, secret string, f hubsim.Faults) *Hub {
	t.Helper()
	cfg := hubsim.Default()
	cfg.Key, cfg.Secret, cfg.KeepInsertIDs, cfg.Faults = key, secret, 1_000_000, f
	srv, err := hubsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Close() })
	return &Hub{t: t, URL: run.URL}
}

// Stats returns hubsim's counters.
func (h *Hub) Stats() hubsim.Stats {
	var s hubsim.Stats
	h.get("_sim/stats", &s)
	return s
}

// Profile returns the stored profile of a user, and whether there is one.
func (h *Hub) Profile(id string) (hubsim.Profile, bool) {
	var p hubsim.Profile
	return p, h.get("_sim/profiles/"+url.PathEscape(id), &p)
}

// SetFaults replaces the injected faults at run time.
func (h *Hub) SetFaults(f hubsim.Faults) {
	h.t.Helper()
	body, _ := json.Marshal(f)
	res, err := http.Post(h.URL+"_sim/faults", "application/json", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		h.t.Fatalf("set faults: %s", res.Status)
	}
}

func (h *Hub) get(path string, into any) bool {
	h.t.Helper()
	res, err := http.Get(h.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return false
	}
	if res.StatusCode != http.StatusOK {
		h.t.Fatalf("GET %s: %s", path, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(into); err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	return true
}
