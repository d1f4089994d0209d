package sender_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/batcher"
	"github.com/profile-ingest/profile-ingest/hubsim"
	"github.com/profile-ingest/profile-ingest/sender"
)

// feed batches n events of random users (seeded) and submits every chunk to d.
func feed(t *testing.T, d *sender.Dispatcher, n, users, maxRecords int, seed int64, done func(batcher.Chunk, []sender.Result)) map[string]int {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	cfg := batcher.Default()
	cfg.MaxRecords = maxRecords
	b, _ := batcher.New(cfg)
	perUser := map[string]int{}
	submit := func(c batcher.Chunk) {
		if err := d.Submit(t.Context(), c, done); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		user := fmt.Sprintf("user-%02d", rng.Intn(users))
		perUser[user]++
		cs, err := b.Add(batcher.Record{Key: user, Body: event(user, i), Ref: uint64(i)})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			submit(c)
		}
	}
	if c, ok := b.Flush(batcher.FlushShutdown); ok {
		submit(c)
	}
	return perUser
}

// TestDispatcherOrderUnderFaults: with 4 chunks in flight against a hubsim that fails, drops
// and delays requests, every event is delivered and each user's events apply in order.
func TestDispatcherOrderUnderFaults(t *testing.T) {
	hub, url := startHub(t, hubsim.Faults{ErrorRate: 0.15, ErrorStatus: 500, DropRate: 0.05, LatencyJitter: hubsim.Duration(3 * time.Millisecond), Seed: 1})
	s := newSender(t, url, fastConfig())
	d := sender.NewDispatcher(s, 4)
	var mu sync.Mutex
	outcomes := map[sender.Outcome]int{}
	perUser := feed(t, d, 1500, 30, 20, 1, func(_ batcher.Chunk, res []sender.Result) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range res {
			outcomes[r.Outcome]++
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if outcomes[sender.Delivered] != 1500 {
		t.Fatalf("outcomes %v", outcomes)
	}
	st := hub.Stats()
	if st.EventsApplied != 1500 || st.Rejections["fault_status"] == 0 || st.Rejections["fault_drop"] == 0 {
		t.Fatalf("hub stats %+v", st)
	}
	for user, n := range perUser {
		checkOrder(t, hub, user, n)
	}
}

// TestDispatcherNeverOverlapsAUser: a server that records which users are in flight finds no
// request carrying a user another unresolved request carries, while chunks of other users do
// run concurrently; per-user arrival order of accepted requests holds despite random 503s.
func TestDispatcherNeverOverlapsAUser(t *testing.T) {
	var mu sync.Mutex
	inFlight := map[string]int{}
	var overlaps []string
	maxConcurrent, concurrent := 0, 0
	lastSeq := map[string]int{}
	rng := rand.New(rand.NewSource(7))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var evs []struct {
			ID       string `json:"distinct_id"`
			InsertID string `json:"$insert_id"`
		}
		if err := json.Unmarshal(body, &evs); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		users := map[string]bool{}
		for _, e := range evs {
			users[e.ID] = true
		}
		for u := range users {
			if inFlight[u] > 0 {
				overlaps = append(overlaps, u)
			}
			inFlight[u]++
		}
		concurrent++
		maxConcurrent = max(maxConcurrent, concurrent)
		delay, fail := time.Duration(rng.Intn(4000))*time.Microsecond, rng.Intn(5) == 0
		mu.Unlock()
		time.Sleep(delay)
		mu.Lock()
		defer mu.Unlock()
		concurrent--
		for u := range users {
			inFlight[u]--
		}
		if fail {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		for _, e := range evs {
			var seq int
			fmt.Sscanf(e.InsertID[strings.LastIndexByte(e.InsertID, '-')+1:], "%d", &seq)
			if seq <= lastSeq[e.ID] && lastSeq[e.ID] != 0 {
				overlaps = append(overlaps, fmt.Sprintf("%s out of order: %d after %d", e.ID, seq, lastSeq[e.ID]))
			}
			lastSeq[e.ID] = seq
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	s := newSender(t, srv.URL, fastConfig())
	d := sender.NewDispatcher(s, 4)
	done, delivered := countDelivered()
	feed(t, d, 800, 40, 4, 3, done)
	if err := d.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(overlaps) > 0 {
		t.Fatalf("order broken: %v", overlaps)
	}
	if maxConcurrent < 2 {
		t.Fatalf("never more than %d request in flight", maxConcurrent)
	}
	if n := delivered(); n != 800 {
		t.Fatalf("%d delivered of 800", n)
	}
}

// countDelivered returns a done callback for Submit that counts delivered records, and how
// many it has counted.
func countDelivered() (done func(batcher.Chunk, []sender.Result), delivered func() int) {
	var mu sync.Mutex
	n := 0
	return func(_ batcher.Chunk, res []sender.Result) {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range res {
				if r.Outcome == sender.Delivered {
					n++
				}
			}
		}, func() int {
			mu.Lock()
			defer mu.Unlock()
			return n
		}
}

// xDownServer is an API that answers 502 to every request carrying user x and 202 to the
// others. seen returns the bodies it received; tried receives once a request for x came.
func xDownServer(t *testing.T) (url string, seen func() []string, tried <-chan struct{}) {
	xTried := make(chan struct{}, 1)
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
		if strings.Contains(string(body), `"distinct_id":"x"`) {
			select {
			case xTried <- struct{}{}:
			default:
			}
			http.Error(w, "down for x", http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(bodies)
	}, xTried
}

// TestDispatcherAbandon: when a chunk's context ends while it is retrying, it is Abandoned; a
// later chunk waiting on it for the same user is abandoned unsent rather than overtaking it;
// chunks of other users are unaffected.
func TestDispatcherAbandon(t *testing.T) {
	url, seen, tried := xDownServer(t)
	d := sender.NewDispatcher(newSender(t, url, fastConfig()), 4)
	ctxA, cancelA := context.WithCancel(t.Context())
	got := make(chan string, 3)
	report := func(name string) func(batcher.Chunk, []sender.Result) {
		return func(_ batcher.Chunk, res []sender.Result) {
			got <- fmt.Sprintf("%s:%s", name, res[0].Outcome)
		}
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(d.Submit(ctxA, chunkFor("x", 1), report("A")))
	must(d.Submit(t.Context(), chunkFor("x", 2), report("B")))
	must(d.Submit(t.Context(), chunkFor("y", 3), report("C")))
	if first := <-got; first != "C:delivered" {
		t.Fatalf("first resolved: %s", first)
	}
	<-tried // A is being sent, and refused
	cancelA()
	a, b := <-got, <-got
	if a != "A:abandoned" || b != "B:abandoned" {
		t.Fatalf("got %s, %s; want A and B abandoned", a, b)
	}
	if err := d.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, body := range seen() {
		if strings.Contains(body, `"x-000002"`) {
			t.Fatal("B was sent although A, earlier for the same user, was abandoned")
		}
	}
}

// TestDispatcherAbandonCarriesOver: a chunk that waits on an abandoned one through a third is
// abandoned unsent too. A (user x) is retrying when its context ends; B (x and z) waits on A;
// C (z) waits on B only. Sending C would put z's later event before B's, which is never sent.
// D (y) is delivered.
func TestDispatcherAbandonCarriesOver(t *testing.T) {
	url, seen, tried := xDownServer(t)
	d := sender.NewDispatcher(newSender(t, url, fastConfig()), 4)
	ctxA, cancelA := context.WithCancel(t.Context())
	got := make(chan string, 4)
	report := func(name string) func(batcher.Chunk, []sender.Result) {
		return func(_ batcher.Chunk, res []sender.Result) {
			got <- fmt.Sprintf("%s:%s", name, res[len(res)-1].Outcome)
		}
	}
	recsB := []batcher.Record{{Key: "x", Body: event("x", 2)}, {Key: "z", Body: event("z", 3)}}
	for _, c := range []struct {
		ctx   context.Context
		chunk batcher.Chunk
		name  string
	}{
		{ctxA, chunkFor("x", 1), "A"},
		{t.Context(), batcher.Chunk{Records: recsB, Body: batcher.Encode(recsB)}, "B"},
		{t.Context(), chunkFor("z", 4), "C"},
		{t.Context(), chunkFor("y", 5), "D"},
	} {
		if err := d.Submit(c.ctx, c.chunk, report(c.name)); err != nil {
			t.Fatal(err)
		}
	}
	<-tried // A is being sent, and refused
	cancelA()
	if err := d.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	close(got)
	outcomes := map[string]bool{}
	for g := range got {
		outcomes[g] = true
	}
	for _, want := range []string{"A:abandoned", "B:abandoned", "C:abandoned", "D:delivered"} {
		if !outcomes[want] {
			t.Errorf("outcomes %v; want %s", outcomes, want)
		}
	}
	for _, body := range seen() {
		if strings.Contains(body, `"z-000003"`) || strings.Contains(body, `"z-000004"`) {
			t.Errorf("z's events were sent although B, holding z's first, waited on abandoned A: %s", body)
		}
	}
}

// TestSubmitBlocksWhenFull: Submit waits while QueueFactor chunks per slot are unresolved, and
// gives up with its context.
func TestSubmitBlocksWhenFull(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	defer close(release)
	d := sender.NewDispatcher(newSender(t, srv.URL, fastConfig()), 1)
	for i := range sender.QueueFactor {
		if err := d.Submit(t.Context(), chunkFor(fmt.Sprint("a", i), 1), nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := d.Submit(ctx, chunkFor("b", 2), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit on a full dispatcher = %v", err)
	}
}

// TestWaitingChunkHoldsNoSlot: while a user's chunk is stuck at the API, that user's next
// chunks wait, and another user's chunk still goes out in the free slot.
func TestWaitingChunkHoldsNoSlot(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), `"slow"`) {
			<-release
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	defer close(release)
	d := sender.NewDispatcher(newSender(t, srv.URL, fastConfig()), 2)
	for i := range 3 {
		if err := d.Submit(t.Context(), chunkFor("slow", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	other := make(chan []sender.Result, 1)
	if err := d.Submit(t.Context(), chunkFor("quick", 9), func(_ batcher.Chunk, rs []sender.Result) { other <- rs }); err != nil {
		t.Fatal(err)
	}
	select {
	case rs := <-other:
		if rs[0].Outcome != sender.Delivered {
			t.Fatalf("the other user's chunk: %+v", rs[0])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the other user's chunk waited behind chunks that were only waiting for their own user")
	}
}

// TestConnectionsAreKept: 200 chunks sent 8 at a time open about 8 connections to the API, not
// more as they go: the sender keeps as many idle connections as it sends requests at once
// (http.DefaultTransport keeps 2, and then every answer past the second closed its connection,
// a new TLS handshake for the next request in production).
func TestConnectionsAreKept(t *testing.T) {
	const inFlight = 8
	hub, url := startHub(t, hubsim.Faults{Latency: hubsim.Duration(time.Millisecond), LatencyJitter: hubsim.Duration(4 * time.Millisecond), Seed: 3})
	cfg := fastConfig()
	cfg.MaxInFlight = inFlight
	d := sender.NewDispatcher(newSender(t, url, cfg), inFlight)
	done, delivered := countDelivered()
	feed(t, d, 4000, 1000000, 20, 3, done)
	if err := d.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := hub.Stats()
	if n := delivered(); n != 4000 || st.Requests != 200 {
		t.Fatalf("%d delivered in %d requests; want 4000 in 200", n, st.Requests)
	}
	// A request may dial while another's connection is on its way back to the idle pool.
	if limit := inFlight + inFlight/2; st.Connections > int64(limit) {
		t.Errorf("%d requests opened %d connections; want at most %d (%d at once)", st.Requests, st.Connections, limit, inFlight)
	}
	t.Logf("%d requests, %d connections", st.Requests, st.Connections)
}
