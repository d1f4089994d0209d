//go:build integration

package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestCompactedBatchTailAtASegmentEnd: on a compacted topic (Debezium's change topics usually
// are), the log cleaner removes superseded records from inside a record batch but keeps the
// batch's offset range. When such a batch ends a segment, a fetch at the offset after its last
// surviving record answers that batch again and nothing after it (a fetch reads one segment).
// The worker must move past the batch's end instead of asking again forever: the backfill ends,
// the record that superseded the removed one is applied, and the group commits to the end.
func TestCompactedBatchTailAtASegmentEnd(t *testing.T) {
	brokers := Brokers(t)
	c := Client(brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The cleaner looks for work every log.cleaner.backoff.ms (15 s by default): ask it to look
	// every 500 ms while this test runs.
	setBrokersConfig(t, c, "log.cleaner.backoff.ms", "500")

	// Every produce opens a segment (segment.ms 1); the cleaner merges neighbouring segments up
	// to segment.bytes (1 MiB), so 600 KB of other users before and after keep the batch below
	// last in its cleaned segment.
	topic := UniqueName(t, "compacted")
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{
			{ConfigName: "cleanup.policy", ConfigValue: "compact"},
			{ConfigName: "segment.ms", ConfigValue: "1"},
			{ConfigName: "segment.bytes", ConfigValue: "1048576"},
			{ConfigName: "min.cleanable.dirty.ratio", ConfigValue: "0.01"},
			{ConfigName: "min.compaction.lag.ms", ConfigValue: "0"},
		},
	}}})
	if err == nil {
		err = res.Errors[topic]
	}
	if err != nil {
		t.Fatalf("create compacted topic %s: %v", topic, err)
	}
	t.Cleanup(func() {
		_, _ = Client(brokers).DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	})
	EndOffsets(t, brokers, topic) // waits until the partition's leader serves it

	filler := func(prefix string) []kafka.Message {
		var ms []kafka.Message
		for i := range 600 {
			id := fmt.Sprintf("%s-%03d", prefix, i)
			ms = append(ms, kafka.Message{Key: []byte(id), Value: fmt.Appendf(nil,
				`{"distinct_id":%q,"operations":[{"set":{"pad":%q}}]}`, id, strings.Repeat("p", 900))})
		}
		return ms
	}
	set := func(id string, v int) kafka.Message {
		return kafka.Message{Key: []byte(id), Value: fmt.Appendf(nil, `{"distinct_id":%q,"operations":[{"set":{"v":%d}}]}`, id, v)}
	}
	Produce(t, brokers, topic, filler("before")...)
	Produce(t, brokers, topic, set("u-a", 1), set("u-b", 1), set("u-c", 1)) // one batch; u-c's record is superseded below
	tail := EndOffsets(t, brokers, topic)[0] - 1                            // u-c's first record
	Produce(t, brokers, topic, append([]kafka.Message{set("u-c", 2)}, filler("after")...)...)
	Produce(t, brokers, topic, set("u-z", 1)) // the active segment, never cleaned
	end := EndOffsets(t, brokers, topic)[0]

	// Compacted when a fetch at u-c's first record answers no record at that offset.
	Eventually(t, 2*time.Minute, "the cleaner removing u-c's superseded record", func() bool {
		r, err := c.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: 0, Offset: tail, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
		if err != nil || r.Error != nil || r.Records == nil {
			return false
		}
		for {
			rec, err := r.Records.ReadRecord()
			if err != nil {
				return true
			}
			if rec.Offset == tail {
				return false
			}
		}
	})

	hub, url := newInProcessHubsim(t, hubsim.Faults{})
	group := UniqueName(t, "g")
	w := Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(brokers, topic, group, url, "--stop-at-end")...)
	if code := w.Wait(time.Minute); code != 0 {
		t.Fatalf("backfill of a compacted topic exited %d, want 0; it stalled at u-c's removed record %d (end %d)?\n%s",
			code, tail, end, lastLines(w.Output(), 20))
	}
	if p, ok := hub.Profile("u-c"); !ok || fmt.Sprint(p.Properties["v"]) != "2" {
		t.Errorf("u-c: %v (found %v), want v 2 from the record that superseded the removed one", p.Properties, ok)
	}
	for _, id := range []string{"u-a", "u-b", "u-z", "after-599"} {
		if _, ok := hub.Profile(id); !ok {
			t.Errorf("profile %s missing", id)
		}
	}
	if got := CommittedOffsets(t, brokers, group, topic)[0]; got != end {
		t.Errorf("committed %d, want the end %d", got, end)
	}
}

// setBrokersConfig sets a dynamic broker setting on every broker and restores Kafka's default
// when t ends. (kafka-go routes a broker resource by its id, so not cluster-wide with "".)
func setBrokersConfig(t *testing.T, c *kafka.Client, name, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	alter := func(id int, op kafka.ConfigOperation, v string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := c.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeBroker, ResourceName: strconv.Itoa(id),
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: name, Value: v, ConfigOperation: op}},
		}}})
		if err == nil && len(res.Resources) == 1 {
			err = res.Resources[0].Error
		}
		return err
	}
	for _, b := range md.Brokers {
		if err := alter(b.ID, kafka.ConfigOperationSet, value); err != nil {
			t.Fatalf("set %s=%s on broker %d: %v", name, value, b.ID, err)
		}
		t.Cleanup(func() { _ = alter(b.ID, kafka.ConfigOperationDelete, "") })
	}
}
