//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/hubsim"
	"github.com/profile-ingest/profile-ingest/internal/kafkautil"
)

// memoryOverheadMiB is the README's fixed overhead over consumer.max_in_flight_bytes: the
// runtime, the connections, the buffers of one fetch answer being read, the events being built
// and sent, and the garbage collector's headroom.
const memoryOverheadMiB = 64

// TestMemoryBoundedByInFlightBytes: on 256 partitions of 8 KB records, a backlog twelve times the
// budget, the worker's peak RSS stays within consumer.max_in_flight_bytes (16 MiB here) plus
// the fixed overhead, whatever the partition count: the fetch is sized from the budget, not per
// partition.
func TestMemoryBoundedByInFlightBytes(t *testing.T) {
	const (
		partitions = 256
		records    = 24_000 // × 8 KB ≈ 192 MB
		budgetMiB  = 16
	)
	brokers := Brokers(t)
	topic := newWideTopic(t, brokers, partitions)
	group := UniqueName(t, "g")
	blob := strings.Repeat("x", 8000)
	msgs := make([]kafka.Message, 0, 1000)
	for i := range records {
		u := fmt.Sprintf("mem-%05d", i%2048)
		msgs = append(msgs, kafka.Message{Key: []byte(u),
			Value: fmt.Appendf(nil, `{"distinct_id":%q,"event_id":"mem-%d","operations":[{"set":{"blob":%q,"i":%d}}]}`, u, i, blob, i)})
		if len(msgs) == cap(msgs) {
			Produce(t, brokers, topic, msgs...)
			msgs = msgs[:0]
		}
	}
	hub, url := newHubsim(t, hubsim.Faults{})
	cfg := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "consumer:\n  max_in_flight_bytes: %d\n", budgetMiB<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	w := Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(brokers, topic, group, url, "--config", cfg, "--stop-at-end")...)
	if code := w.Wait(5 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d, want 0", code)
	}
	if got := hub.Stats().EventsApplied; got != records { // Produce may write a record twice; hubsim applies it once
		t.Errorf("applied %d events, want %d", got, records)
	}
	end, committed := EndOffsets(t, brokers, topic), CommittedOffsets(t, brokers, group, topic)
	for p, e := range end {
		if committed[p] != e {
			t.Errorf("partition %d: committed %d, want the end %d", p, committed[p], e)
		}
	}
	peak := summaryPeakRSS(t, w.Output())
	t.Logf("peak RSS %d MiB with max_in_flight_bytes %d MiB, %d partitions, %d records of 8 KB", peak, budgetMiB, partitions, records)
	if peak > budgetMiB+memoryOverheadMiB {
		t.Errorf("peak RSS %d MiB, over max_in_flight_bytes %d MiB + %d MiB", peak, budgetMiB, memoryOverheadMiB)
	}
}

// newWideTopic is NewTopic for many partitions: a broker on a busy machine takes longer than
// the harness's 15 s to lead 256 new partitions, so it waits up to 2 minutes.
func newWideTopic(t *testing.T, brokers []string, partitions int) string {
	t.Helper()
	topic := UniqueName(t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := Client(brokers)
	if _, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}}}); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	t.Cleanup(func() { deleteTopic(brokers, topic) })
	Eventually(t, 2*time.Minute, "every partition of the new topic served by its leader", func() bool {
		_, err := kafkautil.Offsets(ctx, c, map[string][]int{topic: all(partitions)}, kafka.LastOffset)
		return err == nil
	})
	return topic
}

var peakRSS = regexp.MustCompile(`peak RSS (\d+) MiB`)

// summaryPeakRSS reads "peak RSS N MiB" from the worker's summary line.
func summaryPeakRSS(t *testing.T, out string) int {
	t.Helper()
	m := peakRSS.FindAllStringSubmatch(out, -1)
	if m == nil {
		t.Fatalf("no peak RSS in the worker's summary")
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}
