//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestFetchAnswersServeManyPartitionsAtOnce: a backlog whose producer wrote large record
// batches (~600 KB, one per partition, as a bulk loader batching by partition does) is read in
// fetches that each carry several partitions' batches, so draining 32 partitions takes fewer
// fetches than there are partitions. A fetch that gave each partition an equal share of its
// size (256 KB here) got back cut batches from all but the first partition, which the client
// throws away: a fetch per partition batch, and a backlog drained at a fraction of the
// broker's speed (issue 12's 8 KB × 128 partitions benchmark: 1,710 fetches of ~280 KB).
func TestFetchAnswersServeManyPartitionsAtOnce(t *testing.T) {
	const (
		partitions = 32
		records    = 6_400 // × 3 KB ≈ 19 MB, ~200 records a partition in one batch
		budgetMiB  = 32    // a fetch asks for a quarter of it: 8 MiB
	)
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, partitions)
	group := UniqueName(t, "g")
	blob := strings.Repeat("y", 3000)
	msgs := make([]kafka.Message, records)
	for i := range msgs {
		u := fmt.Sprintf("fs-%05d", i)
		msgs[i] = kafka.Message{Key: []byte(u),
			Value: fmt.Appendf(nil, `{"distinct_id":%q,"event_id":"fs-%d","operations":[{"set":{"blob":%q,"i":%d}}]}`, u, i, blob, i)}
	}
	Produce(t, brokers, topic, msgs...) // one call: the writer batches each partition's records together
	hub, url := newHubsim(t, hubsim.Faults{})
	cfg := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "consumer:\n  max_in_flight_bytes: %d\n", budgetMiB<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	w := Start(t, workerEnv, Binary(t, "profile-ingest"),
		workerArgs(brokers, topic, group, url, "--config", cfg, "--listen", listen, "--stop-at-end")...)
	var fetches, fetched float64
	for !w.Exited() {
		// The last scrape before the exit: fetches made after it (none while the backlog
		// lasts) are not counted.
		if v, ok := metric(t, listen, "profile_ingest_fetches_total"); ok {
			fetches = v
		}
		if v, ok := metric(t, listen, "profile_ingest_fetched_bytes_total"); ok {
			fetched = v
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := w.Wait(time.Second); code != 0 {
		t.Fatalf("backfill exited %d, want 0", code)
	}
	if got := hub.Stats().EventsApplied; got != records {
		t.Fatalf("applied %d events, want %d", got, records)
	}
	t.Logf("%.0f fetches answered %.1f MB of records (%.0f KB a fetch) over %d partitions", fetches, fetched/1e6, fetched/max(fetches, 1)/1e3, partitions)
	if fetched < 0.9*records*3000 {
		t.Fatalf("profile_ingest_fetched_bytes_total %.0f at the last scrape: the metrics were not read during the drain", fetched)
	}
	if fetches >= partitions {
		t.Errorf("%.0f fetches to drain %d partitions of one batch each: a fetch served about one partition", fetches, partitions)
	}
}
