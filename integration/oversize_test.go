//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/dlq"
	dlqtools "github.com/profile-ingest/profile-ingest/dlq/tools"
	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestMessagesAsLargeAsTheBrokerTakesAreDeadLettered: records of about 1 MB, the largest a
// broker takes by default, are far over the API's 10 KiB event limit. They must be
// dead-lettered as too_large with their value unchanged, and never hold up their partition:
// the records after them are delivered and the group commits to the end.
func TestMessagesAsLargeAsTheBrokerTakesAreDeadLettered(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 1)
	group := UniqueName(t, "g")
	sizes := []int{1_000_000, 1_048_000}
	hs, url := produceOversize(t, brokers, topic, sizes)

	w := Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(brokers, topic, group, url, "--stop-at-end")...)
	if code := w.Wait(2 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d, want 0", code)
	}
	checkOversizeOutcome(t, hs, brokers, topic, group, sizes)
	code, out := dlqRun(t, brokers, "inspect", "--topic", topic+".dlq")
	lines := jsonLines(t, out)
	if code != 0 || len(lines) != len(sizes) || lines[1]["value_bytes"] != float64(sizes[1]) {
		t.Errorf("dlq inspect: exit %d, %d lines; want %d, the last of %d bytes:\n%.2000s", code, len(lines), len(sizes), sizes[1], out)
	}
}

// TestDeadLetterTopicTooSmallWaitsForTheLimitToBeRaised: a dead-letter topic made elsewhere with
// a broker's default max.message.bytes cannot take the dead letter of a record near that size
// with its headers. The worker says so at start and when it happens, holds the partition
// rather than dropping the record, and goes on by itself once an SRE raises the limit.
func TestDeadLetterTopicTooSmallWaitsForTheLimitToBeRaised(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 1)
	CreateTopic(t, brokers, topic+".dlq", 1) // the broker's default max.message.bytes
	group := UniqueName(t, "g")
	// Two records of 600 KB come first: their dead letters fit, and are written while the
	// large one waits.
	sizes := []int{600_000, 600_000, 1_048_000}
	hs, url := produceOversize(t, brokers, topic, sizes)

	w := Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(brokers, topic, group, url, "--stop-at-end")...)
	Eventually(t, time.Minute, "the worker says the dead letter is too large for the topic", func() bool {
		return strings.Contains(w.Output(), `"topic":"`+topic+`.dlq"`) && strings.Contains(w.Output(), "a dead letter is larger than the dead-letter topic takes")
	})
	if !strings.Contains(w.Output(), "the dead-letter topic cannot take the dead letter of every record of the topic") ||
		!strings.Contains(w.Output(), `"needed_max_message_bytes":`) {
		t.Errorf("no warning at start that the dead-letter topic is too small:\n%s", w.Output())
	}
	Eventually(t, time.Minute, "the two 600 KB dead letters written while the large one waits", func() bool {
		return EndOffsets(t, brokers, topic+".dlq")[0] == 2
	})
	time.Sleep(2 * time.Second) // commits go on meanwhile; none may pass the large record
	if c := CommittedOffsets(t, brokers, group, topic); c[0] > 3 {
		t.Fatalf("committed %d past the record whose dead letter is not written (offset 3)", c[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Client(brokers).IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic + ".dlq",
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "max.message.bytes", Value: "8388608", ConfigOperation: kafka.ConfigOperationSet}},
		}},
	})
	if err == nil {
		for _, r := range res.Resources {
			err = errors.Join(err, r.Error)
		}
	}
	if err != nil {
		t.Fatalf("raise max.message.bytes: %v", err)
	}
	if code := w.Wait(2 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d after the limit was raised, want 0", code)
	}
	checkOversizeOutcome(t, hs, brokers, topic, group, sizes)
}

// produceOversize writes a small record for user u, a record of each size, and another small
// one, and starts hubsim.
func produceOversize(t *testing.T, brokers []string, topic string, sizes []int) (*Hub, string) {
	t.Helper()
	Produce(t, brokers, topic, good(1))
	for _, size := range sizes {
		Produce(t, brokers, topic, huge(size)) // one at a time: two would make a batch over the limit
	}
	Produce(t, brokers, topic, good(2))
	return newInProcessHubsim(t, hubsim.Faults{})
}

func good(i int) kafka.Message {
	return kafka.Message{Key: []byte("u"), Value: fmt.Appendf(nil, `{"distinct_id":"u","operations":[{"set":{"n":%d}}],"event_id":"big-%d"}`, i, i)}
}

// huge is a valid message of size bytes, far over the API's event limit.
func huge(size int) kafka.Message {
	head, tail := `{"distinct_id":"big","operations":[{"set":{"blob":"`, `"}}]}`
	return kafka.Message{Key: []byte("big"), Value: []byte(head + strings.Repeat("x", size-len(head)-len(tail)) + tail)}
}

// checkOversizeOutcome: both small records applied, each huge one dead-lettered as too_large
// with its value unchanged, and the group committed to the end.
func checkOversizeOutcome(t *testing.T, hs *Hub, brokers []string, topic, group string, sizes []int) {
	t.Helper()
	if p, ok := hs.Profile("u"); !ok || fmt.Sprint(p.Properties["n"]) != "2" || p.EventsApplied != 2 {
		t.Errorf("profile u %+v: want both small records applied, n = 2", p)
	}
	dead := ReadAll(t, brokers, topic+".dlq")
	if len(dead) != len(sizes) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(sizes))
	}
	for i, m := range dead {
		e := dlqtools.ParseEntry(m)
		if e.Reason != "too_large" || len(m.Value) != sizes[i] || string(m.Value) != string(huge(sizes[i]).Value) {
			t.Errorf("dead letter %d: reason %q, %d bytes; want too_large with the original %d bytes", i, e.Reason, len(m.Value), sizes[i])
		}
	}
	end, committed := EndOffsets(t, brokers, topic), CommittedOffsets(t, brokers, group, topic)
	if committed[0] != end[0] {
		t.Errorf("committed %d, want the end %d", committed[0], end[0])
	}
}

// TestDeadLetterBatchOverTheTopicLimitIsWrittenOneByOne: dead letters that each fit the topic
// but together make a record batch over its max.message.bytes are written one by one.
func TestDeadLetterBatchOverTheTopicLimitIsWrittenOneByOne(t *testing.T) {
	brokers := Brokers(t)
	dead := NewTopic(t, brokers, 1) // the broker's default max.message.bytes, about 1 MB
	now := time.Now()
	var recs []dlq.Record
	for i := range 3 {
		m := huge(600_000)
		recs = append(recs, dlq.Record{Key: m.Key, Value: m.Value, Origin: dlq.Origin{Topic: "t", Offset: int64(i)},
			Reason: "too_large", FirstFailure: now, LastFailure: now})
	}
	w, err := dlq.NewWriter(brokers, dlq.Default(dead))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Write(ctx, recs...); err != nil {
		t.Fatalf("write 3 dead letters of 600 KB: %v", err)
	}
	if got := ReadAll(t, brokers, dead); len(got) != 3 {
		t.Fatalf("%d dead letters on the topic, want 3", len(got))
	}
}
