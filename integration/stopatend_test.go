//go:build integration

package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestStopAtEndWithPartitionsRetentionEmptied: a partition whose every record retention
// removed (log start = end) has nothing left to read and counts as done, with or without a
// commit; a commit retention overtook resumes at the log start, said once in a warning naming
// the offsets. The backfill exits 0 with every partition committed to its end.
func TestStopAtEndWithPartitionsRetentionEmptied(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 3)
	group := UniqueName(t, "g")
	s := mixedStream(600, 30, 0, 21)
	Produce(t, brokers, topic, s.msgs...)
	end := EndOffsets(t, brokers, topic)
	for p, e := range end {
		if e < 3 {
			t.Fatalf("partition %d has %d records; the test needs some on each", p, e)
		}
	}
	commitOffset(t, brokers, group, topic, 2, 1) // a commit retention will overtake
	deleteRecords(t, brokers, topic, map[int32]int64{1: end[1], 2: end[2]})
	hub, url := newInProcessHubsim(t, hubsim.Faults{})

	w := Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(brokers, topic, group, url, "--stop-at-end")...)
	if code := w.Wait(2 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d, want 0", code)
	}
	committed := CommittedOffsets(t, brokers, group, topic)
	for p, e := range end {
		if committed[p] != e {
			t.Errorf("partition %d: committed %d, want its end %d", p, committed[p], e)
		}
	}
	if got := hub.Stats().EventsApplied; got != end[0] {
		t.Errorf("applied %d events, want the %d records left on partition 0", got, end[0])
	}
	warned := 0
	for _, l := range jsonLines(t, w.Output()) {
		if l["level"] == "warn" && strings.Contains(l["message"].(string), "retention deleted it") {
			warned++
			if l["partition"] != float64(2) || l["offset"] != float64(1) || l["log_start_offset"] != float64(end[2]) {
				t.Errorf("the retention warning does not name partition 2, offset 1 and log start %d: %v", end[2], l)
			}
		}
	}
	if warned != 1 {
		t.Errorf("%d warnings that a committed offset was deleted, want 1", warned)
	}
}

// TestStopAtEndStartingAfterAPartitionsLastRecord: --start at a time after a partition's last
// record leaves that partition nothing to read; it counts as done.
func TestStopAtEndStartingAfterAPartitionsLastRecord(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 2)
	group := UniqueName(t, "g")
	Produce(t, brokers, topic, fixedPartition(0, good(1)), fixedPartition(1, good(2)))
	time.Sleep(1100 * time.Millisecond) // --start has second precision
	start := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(start) + 100*time.Millisecond)
	Produce(t, brokers, topic, fixedPartition(0, good(3)))
	hub, url := newInProcessHubsim(t, hubsim.Faults{})

	w := Start(t, workerEnv, Binary(t, "profile-ingest"),
		workerArgs(brokers, topic, group, url, "--start", start.Format(time.RFC3339), "--stop-at-end")...)
	if code := w.Wait(2 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d, want 0", code)
	}
	if got := hub.Stats().EventsApplied; got != 1 {
		t.Errorf("applied %d events, want the 1 written after --start", got)
	}
	end, committed := EndOffsets(t, brokers, topic), CommittedOffsets(t, brokers, group, topic)
	for p, e := range end {
		if committed[p] != e {
			t.Errorf("partition %d: committed %d, want its end %d", p, committed[p], e)
		}
	}
}

// fixedPartition writes m to partition p: Produce partitions by key, and "u" is what good() keys.
func fixedPartition(p int, m kafka.Message) kafka.Message {
	for i := 0; ; i++ {
		k := []byte("u" + strings.Repeat("-", i))
		if (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: k}, 0, 1) == p {
			m.Key = k
			return m
		}
	}
}

// commitOffset commits offset for one partition of topic as group, which has no members.
func commitOffset(t *testing.T, brokers []string, group, topic string, partition int, offset int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Client(brokers).OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{topic: {{Partition: partition, Offset: offset}}}})
	if err == nil {
		for _, ps := range res.Topics {
			for _, p := range ps {
				if p.Error != nil {
					err = p.Error
				}
			}
		}
	}
	if err != nil {
		t.Fatalf("commit %s/%d at %d for %s: %v", topic, partition, offset, group, err)
	}
}

// deleteRecords removes the records of topic below the given offsets, as retention does.
func deleteRecords(t *testing.T, brokers []string, topic string, below map[int32]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 15000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	for p, off := range below {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = p, off
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	res, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("delete records of %s: %v", topic, err)
	}
	for _, tt := range res.Topics {
		for _, p := range tt.Partitions {
			if err := kerrOf(p.ErrorCode); err != nil {
				t.Fatalf("delete records of %s/%d: %v", topic, p.Partition, err)
			}
		}
	}
	for p, off := range below {
		if got := StartOffsets(t, brokers, topic)[int(p)]; got != off {
			t.Fatalf("%s/%d starts at %d after deleting below %d", topic, p, got, off)
		}
	}
}

func kerrOf(code int16) error {
	if code == 0 {
		return nil
	}
	return kafka.Error(code)
}
