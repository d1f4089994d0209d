//go:build integration

package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/internal/kafkautil"
)

// Produce writes msgs to topic, keyed records partitioned as Java clients do (murmur2), and
// waits until all in-sync replicas acknowledge them.
func Produce(t testing.TB, brokers []string, topic string, msgs ...kafka.Message) {
	t.Helper()
	ProduceCompressed(t, brokers, topic, 0, msgs...)
}

// ProduceCompressed is Produce with the producer's batches compressed with codec (0: none).
func ProduceCompressed(t testing.TB, brokers []string, topic string, codec kafka.Compression, msgs ...kafka.Message) {
	t.Helper()
	// Its own transport: kafka-go's default one caches metadata across tests, and may not yet
	// know a topic created a moment ago. Closed once the writer is (see closingTransport).
	tr := &kafka.Transport{DialTimeout: 10 * time.Second, MetadataTTL: time.Second}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1000,
		BatchBytes:   8 << 20,
		BatchTimeout: 5 * time.Millisecond,
		Transport:    tr,
		Compression:  codec,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			return
		}
		if !errors.Is(err, kafka.UnknownTopicOrPartition) || ctx.Err() != nil {
			t.Fatalf("produce %d records to %s: %v", len(msgs), topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// EndOffsets returns, per partition, the offset the next record written to topic will get.
func EndOffsets(t testing.TB, brokers []string, topic string) map[int]int64 {
	t.Helper()
	return listOffsets(t, brokers, topic, kafka.LastOffset)
}

// StartOffsets returns, per partition, the offset of the first record still on topic.
func StartOffsets(t testing.TB, brokers []string, topic string) map[int]int64 {
	t.Helper()
	return listOffsets(t, brokers, topic, kafka.FirstOffset)
}

func listOffsets(t testing.TB, brokers []string, topic string, which int64) map[int]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := kafkautil.Offsets(ctx, Client(brokers), map[string][]int{topic: all(Partitions(t, brokers, topic))}, which)
	if err != nil {
		t.Fatalf("list offsets of %s: %v", topic, err)
	}
	return out[topic]
}

// all returns 0..n-1.
func all(n int) []int {
	ps := make([]int, n)
	for p := range n {
		ps[p] = p
	}
	return ps
}

// CommittedOffsets returns the offsets group has committed for topic, per partition; a partition
// without a commit is absent.
func CommittedOffsets(t testing.TB, brokers []string, group, topic string) map[int]int64 {
	t.Helper()
	n := Partitions(t, brokers, topic)
	parts := all(n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res *kafka.OffsetFetchResponse
	var err error
	for {
		// Right after a broker restart the coordinator may still be loading: ask again.
		res, err = Client(brokers).OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
		if err == nil && res.Error == nil {
			break
		}
		if err == nil {
			err = res.Error
		}
		if ctx.Err() != nil {
			t.Fatalf("committed offsets of %s for %s: %v", group, topic, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	out := make(map[int]int64)
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("committed offset of %s/%d: %v", topic, p.Partition, p.Error)
		}
		if p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out
}

// ReadAll reads every record on topic, partition by partition from the first offset to the end
// offset at the time of the call.
func ReadAll(t testing.TB, brokers []string, topic string) []kafka.Message {
	t.Helper()
	start := StartOffsets(t, brokers, topic)
	end := EndOffsets(t, brokers, topic)
	var out []kafka.Message
	for p := range len(end) {
		out = append(out, ReadPartition(t, brokers, topic, p, start[p], end[p])...)
	}
	return out
}

// ReadPartition reads the records of one partition in [from, to).
func ReadPartition(t testing.TB, brokers []string, topic string, partition int, from, to int64) []kafka.Message {
	t.Helper()
	if from >= to {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, Topic: topic, Partition: partition,
		MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		t.Fatalf("seek %s/%d to %d: %v", topic, partition, from, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := make([]kafka.Message, 0, to-from)
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s/%d at %d (want up to %d): %v", topic, partition, from+int64(len(out)), to, err)
		}
		out = append(out, m)
		if m.Offset+1 >= to {
			return out
		}
	}
}
