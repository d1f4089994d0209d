//go:build integration

package integration

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/dlq"
	"github.com/profile-ingest/profile-ingest/hubsim"
)

const (
	testKey    = "WSKEY_it"
	testSecret = "WSSECRET_it_do_not_log_0123456789"
)

// stream is a generated topic's content and what the worker must make of it.
type stream struct {
	msgs      []kafka.Message
	good      int               // records the API must apply
	wantDLQ   map[string]string // original value -> reason it must be dead-lettered with
	perUser   map[string]int    // good records per user
	lastSeq   map[string]int    // the last seq set per user
	rejectRE  string            // distinct_ids hubsim refuses (rejected by the API with 400)
	rejectCnt int
}

// badKinds are messages the worker must dead-letter without sending, with their reason.
var badKinds = []struct{ reason, value string }{
	{"invalid_json", `{"distinct_id": "%s", "event_id": "bad-%d", "operations": [`},
	{"invalid_operation", `{"distinct_id": "%s", "operations": [{"frobnicate": {"a": 1}}], "event_id": "bad-%d"}`},
	{"invalid_operation", `{"distinct_id": "%s", "operations": [{"add_email": "x y@example.com"}], "event_id": "bad-%d"}`},
	{"invalid_message", `{"distinct_id": "", "operations": [{"set": {"a": 1}}], "event_id": "bad-%[2]d", "x": "%[1]s"}`},
	{"too_large", `{"distinct_id": "%s", "operations": [{"set": {"blob": "` + strings.Repeat("z", 10300) + `"}}], "event_id": "bad-%d"}`},
}

// rejectEvery: one record in so many is for a user the API refuses; each such record makes the
// sender split its chunk down to the record, so they are kept rare, as in life.
const rejectEvery = 499

// mixedStream makes n records for users, one bad record in every badEvery, keyed by distinct_id.
// Good records set seq to the user's running count, so the final profile and the order of
// applied insert ids show whether anything was lost, doubled or reordered. Users named
// "it-reject-*" are refused by hubsim when the test sets RejectDistinctID to s.rejectRE.
func mixedStream(n, users, badEvery int, seed uint64) stream {
	rng := rand.New(rand.NewPCG(seed, 7))
	seqs := map[string]int{} // every user's running seq, refused users included
	s := stream{wantDLQ: map[string]string{}, perUser: map[string]int{}, lastSeq: map[string]int{}, rejectRE: "^it-reject-"}
	for i := range n {
		u := fmt.Sprintf("it-user-%03d", rng.IntN(users))
		if i%rejectEvery == 13 {
			u = fmt.Sprintf("it-reject-%d", rng.IntN(3))
		}
		var value string
		if badEvery > 0 && i%badEvery == badEvery-1 {
			k := badKinds[(i/badEvery)%len(badKinds)]
			value = fmt.Sprintf(k.value, u, i)
			s.wantDLQ[value] = k.reason
		} else {
			seqs[u]++
			seq := seqs[u]
			value = fmt.Sprintf(`{"distinct_id":%q,"event_id":"%s-%06d","time":%d,"operations":[{"set":{"seq":%d}},{"increment":{"n":1}},{"add_email":"%s@example.com"}]}`,
				u, u, seq, 1700000000000+int64(i), seq, u)
			if strings.HasPrefix(u, "it-reject-") {
				s.wantDLQ[value] = "rejected"
				s.rejectCnt++
			} else {
				s.perUser[u]++
				s.lastSeq[u] = seq
				s.good++
			}
		}
		s.msgs = append(s.msgs, kafka.Message{Key: []byte(u), Value: []byte(value)})
	}
	return s
}

// newHubsim starts a hubsim process with the test workspace's credentials.
func newHubsim(t *testing.T, faults hubsim.Faults) (*Hub, string) {
	t.Helper()
	h := StartHubsim(t, testKey, testSecret, faults)
	return h, h.URL
}

// newInProcessHubsim serves hubsim in the test's process with the test workspace's credentials.
func newInProcessHubsim(t *testing.T, faults hubsim.Faults) (*Hub, string) {
	t.Helper()
	h := StartHubsimInProcess(t, testKey, testSecret, faults)
	return h, h.URL
}

// workerArgs are the flags of a test worker; extra ones are appended.
func workerArgs(brokers []string, topic, group, baseURL string, extra ...string) []string {
	return append([]string{"run",
		"--brokers", strings.Join(brokers, ","), "--topics", topic, "--group", group,
		"--base-url", baseURL, "--workspace-key", testKey, "--dlq-topic", topic + ".dlq",
		"--listen", "", "--linger", "20ms", "--log-format", "json", "--log-level", "info",
	}, extra...)
}

var workerEnv = []string{"SUPRSEND_WORKSPACE_SECRET=" + testSecret}

// verifyOutcome checks what a user would: every good record applied once and in order per user,
// every bad one dead-lettered with its reason and origin, and the group committed to the end.
func verifyOutcome(t *testing.T, hs *Hub, brokers []string, topic, group string, s stream, allowDuplicates bool) {
	t.Helper()
	st := hs.Stats()
	if st.EventsApplied != int64(s.good) {
		t.Errorf("hubsim applied %d events, want %d", st.EventsApplied, s.good)
	}
	if !allowDuplicates && st.Duplicates != 0 {
		t.Errorf("hubsim saw %d duplicate events, want none", st.Duplicates)
	}
	for u, n := range s.perUser {
		p, ok := hs.Profile(u)
		if !ok {
			t.Errorf("profile %s missing", u)
			continue
		}
		if p.EventsApplied != n {
			t.Errorf("profile %s: %d events applied, want %d", u, p.EventsApplied, n)
		}
		if got := fmt.Sprint(p.Properties["seq"]); got != strconv.Itoa(s.lastSeq[u]) {
			t.Errorf("profile %s: seq = %s, want %d (the last one)", u, got, s.lastSeq[u])
		}
		if got := fmt.Sprint(p.Properties["n"]); got != strconv.Itoa(n) {
			t.Errorf("profile %s: n = %s, want %d", u, got, n)
		}
		prev := 0
		for _, id := range p.InsertIDs {
			seq, _ := strconv.Atoi(id[strings.LastIndexByte(id, '-')+1:])
			if seq <= prev {
				t.Errorf("profile %s: event %s applied after seq %d: per-user order broken", u, id, prev)
				break
			}
			prev = seq
		}
	}

	originals := map[string]kafka.Message{}
	for _, m := range ReadAll(t, brokers, topic) {
		originals[fmt.Sprintf("%d/%d", m.Partition, m.Offset)] = m
	}
	dead := ReadAll(t, brokers, topic+".dlq")
	if len(dead) < len(s.wantDLQ) || (!allowDuplicates && len(dead) != len(s.wantDLQ)) {
		t.Errorf("dead-letter topic holds %d records, want %d", len(dead), len(s.wantDLQ))
	}
	seen := map[string]bool{}
	for _, d := range dead {
		h := func(k string) string { v, _ := dlq.Header(d.Headers, k); return v }
		reason, ok := s.wantDLQ[string(d.Value)]
		if !ok {
			t.Errorf("dead letter %.80q was not expected (reason %s, error %s)", d.Value, h(dlq.HeaderReason), h(dlq.HeaderError))
			continue
		}
		if seen[string(d.Value)] && !allowDuplicates {
			t.Errorf("dead letter %.80q written twice", d.Value)
		}
		seen[string(d.Value)] = true
		if h(dlq.HeaderReason) != reason {
			t.Errorf("dead letter %.60q: reason %q, want %q", d.Value, h(dlq.HeaderReason), reason)
		}
		wantStatus := "0"
		if reason == "rejected" {
			wantStatus = "400"
		}
		if h(dlq.HeaderStatus) != wantStatus || h(dlq.HeaderError) == "" {
			t.Errorf("dead letter %.60q: status %q error %q, want status %s and an error", d.Value, h(dlq.HeaderStatus), h(dlq.HeaderError), wantStatus)
		}
		if h(dlq.HeaderOriginTopic) != topic {
			t.Errorf("dead letter origin topic %q, want %q", h(dlq.HeaderOriginTopic), topic)
		}
		orig, ok := originals[h(dlq.HeaderOriginPartition)+"/"+h(dlq.HeaderOriginOffset)]
		if !ok || string(orig.Value) != string(d.Value) || string(orig.Key) != string(d.Key) {
			t.Errorf("dead letter %.60q: origin %s/%s does not hold the same key and value", d.Value, h(dlq.HeaderOriginPartition), h(dlq.HeaderOriginOffset))
		}
		if strings.Contains(fmt.Sprint(d.Headers), testSecret) {
			t.Errorf("dead letter headers carry the workspace secret")
		}
	}

	if len(seen) != len(s.wantDLQ) {
		t.Errorf("%d distinct records dead-lettered, want %d", len(seen), len(s.wantDLQ))
	}

	end := EndOffsets(t, brokers, topic)
	committed := CommittedOffsets(t, brokers, group, topic)
	for p, e := range end {
		if e > 0 && committed[p] != e {
			t.Errorf("partition %d: committed %d, want the end offset %d", p, committed[p], e)
		}
	}
}

// summaryDelivered reads "delivered N" from the worker's summary line.
func summaryDelivered(t *testing.T, out string) int { return summaryCount(t, out, "delivered") }

// summaryCount reads "NAME N" (delivered, abandoned, ...) from the worker's summary line.
func summaryCount(t *testing.T, out, name string) int {
	t.Helper()
	i := strings.LastIndex(out, name+" ")
	if i < 0 {
		t.Fatalf("no %q in the worker's summary", name)
	}
	var n int
	fmt.Sscanf(out[i+len(name)+1:], "%d", &n)
	return n
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
