//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestConsumerGroupResumesFromCommittedOffsets proves the harness and the broker together: a
// consumer group that commits, then a restarted member that must resume exactly at the commits.
func TestConsumerGroupResumesFromCommittedOffsets(t *testing.T) {
	brokers := Brokers(t)
	const partitions, records = 8, 10_000
	topic := NewTopic(t, brokers, partitions)
	group := UniqueName(t, "g")

	msgs := make([]kafka.Message, records)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "user-%d", i%97), Value: fmt.Appendf(nil, "%d", i)}
	}
	Produce(t, brokers, topic, msgs...)
	end := EndOffsets(t, brokers, topic)
	var total int64
	for p := range partitions {
		total += end[p]
	}
	if total != records {
		t.Fatalf("topic holds %d records, want %d", total, records)
	}

	// First member: read about half of each partition, commit what it read, leave.
	half := make(map[int]int64, partitions)
	for p, e := range end {
		half[p] = e / 2
	}
	first := consume(t, brokers, topic, group, half)
	committed := CommittedOffsets(t, brokers, group, topic)
	for p := range partitions {
		if committed[p] != half[p] {
			t.Errorf("partition %d: committed %d, want %d", p, committed[p], half[p])
		}
	}

	// Second member: must start exactly at the commits and read to the end.
	second := consume(t, brokers, topic, group, end)
	for p := range partitions {
		if got := second.first[p]; end[p] > half[p] && got != half[p] {
			t.Errorf("partition %d: restarted member began at %d, want the committed %d", p, got, half[p])
		}
	}
	seen := make(map[string]int, records)
	for _, v := range append(first.values, second.values...) {
		seen[v]++
	}
	for i := range records {
		if n := seen[fmt.Sprint(i)]; n != 1 {
			t.Errorf("record %d read %d times, want exactly once", i, n)
		}
	}
}

type consumed struct {
	values []string
	first  map[int]int64 // the first offset read per partition
}

// consume joins group, reads every assigned partition of topic up to stop[p], commits stop[p]
// and leaves. It fails t if the group does not deliver within a minute.
func consume(t *testing.T, brokers []string, topic, group string, stop map[int]int64) consumed {
	t.Helper()
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: group, Brokers: brokers, Topics: []string{topic},
		StartOffset: kafka.FirstOffset, HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gen, err := cg.Next(ctx)
	for err != nil && ctx.Err() == nil {
		// The first group of a fresh broker waits for the offsets topic: kafka-go reports each
		// failed join and tries again.
		t.Logf("join group: %v (retrying)", err)
		gen, err = cg.Next(ctx)
	}
	if err != nil {
		t.Fatalf("join group: %v", err)
	}
	var (
		mu  sync.Mutex
		out = consumed{first: map[int]int64{}}
		wg  sync.WaitGroup
	)
	errs := make(chan error, len(gen.Assignments[topic]))
	for _, a := range gen.Assignments[topic] {
		wg.Add(1)
		go func(a kafka.PartitionAssignment) {
			defer wg.Done()
			errs <- readAssigned(ctx, brokers, topic, a, stop[a.ID], func(m kafka.Message) {
				mu.Lock()
				defer mu.Unlock()
				if _, ok := out.first[m.Partition]; !ok {
					out.first[m.Partition] = m.Offset
				}
				out.values = append(out.values, string(m.Value))
			})
		}(a)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	commits := map[int]int64{}
	for _, a := range gen.Assignments[topic] {
		commits[a.ID] = stop[a.ID]
	}
	if err := gen.CommitOffsets(map[string]map[int]int64{topic: commits}); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return out
}

func readAssigned(ctx context.Context, brokers []string, topic string, a kafka.PartitionAssignment, stop int64, each func(kafka.Message)) error {
	if a.Offset >= stop {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: a.ID, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(a.Offset); err != nil {
		return err
	}
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return errors.Join(fmt.Errorf("partition %d", a.ID), err)
		}
		each(m)
		if m.Offset+1 >= stop {
			return nil
		}
	}
}
