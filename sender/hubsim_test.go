package sender_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/batcher"
	"github.com/profile-ingest/profile-ingest/hubsim"
	"github.com/profile-ingest/profile-ingest/sender"
)

const (
	key    = "WSKEY_test_0123456789"
	secret = "WSSECRET_test_abcdefghijklmnopqrstuvwxyz_0123456789"
)

// startHub runs a hubsim on a free port, with per-profile insert ids kept.
func startHub(t *testing.T, faults hubsim.Faults) (*hubsim.Server, string) {
	t.Helper()
	cfg := hubsim.Default()
	cfg.Key, cfg.Secret, cfg.KeepInsertIDs, cfg.Faults = key, secret, 10000, faults
	hub, err := hubsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run, err := hub.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Close() })
	return hub, run.URL
}

func fastConfig() sender.Config {
	c := sender.Default()
	c.InitialInterval, c.MaxInterval, c.AuthMaxInterval = time.Millisecond, 20*time.Millisecond, 20*time.Millisecond
	c.MaxElapsedTime, c.RequestTimeout = 30*time.Second, 5*time.Second
	return c
}

func newSender(t *testing.T, url string, cfg sender.Config) *sender.Sender {
	t.Helper()
	s, err := sender.New(url, sender.Credentials{Key: key, Secret: secret}, sender.WithConfig(cfg), sender.WithUserAgent("profile-ingest/test"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// event is an identity event for user carrying sequence number seq (its $insert_id).
func event(user string, seq int) []byte {
	return fmt.Appendf(nil, `{"$schema":"2","$insert_id":"%s-%06d","$time":1700000000000,"env":%q,"distinct_id":%q,"$user_operations":[{"$set":{"seq":%d}},{"$add":{"n":1}}],"properties":{"$ss_sdk_version":"test"}}`,
		user, seq, key, user, seq)
}

// TestRejectedRecordsIsolated: 3 refused records among 400 fail alone, with code and message;
// the 397 others are delivered, each user's events applied in order.
func TestRejectedRecordsIsolated(t *testing.T) {
	hub, url := startHub(t, hubsim.Faults{RejectDistinctID: `^bad-`, RejectMessage: "user is blocked"})
	s := newSender(t, url, fastConfig())
	b, _ := batcher.New(batcher.Default())
	var chunks []batcher.Chunk
	for i := range 400 {
		user := fmt.Sprintf("user-%d", i%40)
		if i == 17 || i == 200 || i == 399 {
			user = fmt.Sprintf("bad-%d", i)
		}
		cs, err := b.Add(batcher.Record{Key: user, Body: event(user, i), Ref: uint64(i)})
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, cs...)
	}
	if len(chunks) != 1 || len(chunks[0].Records) != 400 {
		t.Fatalf("want one chunk of 400, got %d chunks", len(chunks))
	}
	res := s.Send(t.Context(), chunks[0])
	var delivered, failed int
	for i, r := range res {
		switch r.Outcome {
		case sender.Delivered:
			delivered++
		case sender.Failed:
			failed++
			var he *sender.HTTPError
			if !strings.HasPrefix(chunks[0].Records[i].Key, "bad-") || r.Reason != sender.ReasonRejected || r.Status != 400 ||
				!errors.As(r.Err, &he) || !strings.Contains(he.Body, "user is blocked") || !strings.Contains(he.Body, chunks[0].Records[i].Key) {
				t.Errorf("record %d (%s): %+v", i, chunks[0].Records[i].Key, r)
			}
		}
	}
	if delivered != 397 || failed != 3 {
		t.Fatalf("delivered %d, failed %d; want 397 and 3", delivered, failed)
	}
	st := hub.Stats()
	if st.EventsApplied != 397 || st.Duplicates != 0 {
		t.Fatalf("hub stats %+v", st)
	}
	for u := range 40 {
		checkOrder(t, hub, fmt.Sprintf("user-%d", u), -1)
	}
}

// checkOrder asserts the profile's insert ids are strictly increasing; want >= 0 also checks
// how many were applied.
func checkOrder(t *testing.T, hub *hubsim.Server, user string, want int) {
	t.Helper()
	p, ok := hub.Profile(user)
	if !ok {
		t.Fatalf("no profile %s", user)
	}
	for i := 1; i < len(p.InsertIDs); i++ {
		if p.InsertIDs[i] <= p.InsertIDs[i-1] {
			t.Fatalf("%s: %s applied after %s", user, p.InsertIDs[i], p.InsertIDs[i-1])
		}
	}
	if want >= 0 && len(p.InsertIDs) != want {
		t.Fatalf("%s: %d events applied, want %d", user, len(p.InsertIDs), want)
	}
}

// TestAuthOutagePausesAndResumes: while hubsim answers 401 nothing fails and the sender is not
// ready; once the outage is lifted at run time everything is delivered.
func TestAuthOutagePausesAndResumes(t *testing.T) {
	hub, url := startHub(t, hubsim.Faults{AuthOutage: true})
	s := newSender(t, url, fastConfig())
	d := sender.NewDispatcher(s, 2)
	var mu sync.Mutex
	var results []sender.Result
	for i := range 2 {
		c := chunkFor(fmt.Sprintf("u%d", i), i)
		if err := d.Submit(t.Context(), c, func(_ batcher.Chunk, r []sender.Result) {
			mu.Lock()
			results = append(results, r...)
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Five probes refused: the outage has been met and retried, not given up on.
	for deadline := time.Now().Add(10 * time.Second); hub.Stats().Rejections["fault_auth_outage"] < 5; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d probes during the outage", hub.Stats().Rejections["fault_auth_outage"])
		}
	}
	if err := s.Ready(); !errors.Is(err, sender.ErrUnauthorized) {
		t.Fatalf("Ready = %v during the outage", err)
	}
	mu.Lock()
	if len(results) != 0 {
		t.Fatalf("results during the outage: %+v", results)
	}
	mu.Unlock()
	if err := hub.SetFaults(hubsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].Outcome != sender.Delivered || results[1].Outcome != sender.Delivered || s.Ready() != nil {
		t.Fatalf("after the outage: %+v, Ready %v", results, s.Ready())
	}
	if hub.Stats().EventsApplied != 2 {
		t.Fatalf("hub stats %+v", hub.Stats())
	}
}

func chunkFor(user string, seq int) batcher.Chunk {
	recs := []batcher.Record{{Key: user, Body: event(user, seq)}}
	return batcher.Chunk{Records: recs, Body: batcher.Encode(recs)}
}
