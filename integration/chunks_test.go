//go:build integration

package integration

import (
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestChunksFillAcrossPartitions: a backlog spread over 8 partitions, about 500 records each,
// read with a linger far longer than the backlog takes to fetch. Chunks that take records from
// every partition close full (400 records, the API's limit), so the API gets about
// records ÷ 400 requests; chunks built per partition would take two requests per partition,
// one of them about a quarter full. Per-user order and nothing lost are checked as everywhere.
// One sending slot (--max-in-flight 1) keeps one chunk open whatever the rate: with more, a
// backlog this fast spreads users over parallel chunks (see consumer.WithSendSlots), each of
// which ends the backlog with a partial chunk, so the count would depend on timing.
func TestChunksFillAcrossPartitions(t *testing.T) {
	const partitions, records, perRequest = 8, 4000, 400
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, partitions)
	group := UniqueName(t, "g")
	// No refused users: each refused record makes the sender split its chunk, adding requests.
	s := withoutRefusedUsers(mixedStream(records, 200, 0, 12))
	Produce(t, brokers, topic, s.msgs...)
	hs, url := newHubsim(t, hubsim.Faults{})

	w := Start(t, workerEnv, Binary(t, "profile-ingest"),
		workerArgs(brokers, topic, group, url, "--stop-at-end", "--linger", "3s", "--max-in-flight", "1")...)
	if code := w.Wait(3 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d, want 0", code)
	}
	verifyOutcome(t, hs, brokers, topic, group, s, false)

	// The margin: the last chunk closes on the linger, not full; and a fetch that stalls
	// longer than the linger on this shared machine closes one more chunk early.
	minimum := (len(s.msgs) + perRequest - 1) / perRequest
	const margin = 2
	st := hs.Stats()
	if st.Requests > int64(minimum+margin) {
		t.Errorf("the API got %d requests for %d records, want at most %d (the minimum %d plus %d): chunks did not fill across partitions",
			st.Requests, len(s.msgs), minimum+margin, minimum, margin)
	}
	t.Logf("%d records over %d partitions: %d requests (minimum %d), %.4f requests per record",
		len(s.msgs), partitions, st.Requests, minimum, float64(st.Requests)/float64(len(s.msgs)))
}
