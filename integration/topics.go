//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Client returns a kafka-go admin client for the brokers. Each has its own connections, so a
// test that restarts a broker meets no stale pooled connection.
func Client(brokers []string) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second,
		Transport: closingTransport{&kafka.Transport{DialTimeout: 10 * time.Second, IdleTimeout: time.Second}}}
}

// closingTransport is a test helper's transport whose connections and metadata poller end after
// each request. A kafka.Transport keeps, per broker list it has talked to, a goroutine that
// fetches the metadata of every topic every MetadataTTL (at most 6 s, 1 s for the producers)
// until CloseIdleConnections, and neither a kafka.Client nor a kafka.Writer given a transport
// closes it. The suite makes hundreds of them (the writers close theirs after the writer): left
// open, they polled the broker hundreds of times a second by the end of the suite, and once a
// 256-partition topic existed the test process spent its time reading metadata
// (TestMemoryBoundedByInFlightBytes timed out producing its records). The next request opens a
// new pool, with fresh metadata.
type closingTransport struct{ t *kafka.Transport }

func (c closingTransport) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	defer c.t.CloseIdleConnections()
	return c.t.RoundTrip(ctx, addr, req)
}

var unsafeTopicChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// UniqueName returns a name made from t's name and a random suffix, valid as a topic or group id.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := unsafeTopicChars.ReplaceAllString(t.Name(), "_")
	if len(name) > 120 {
		name = name[:120]
	}
	return fmt.Sprintf("%s.%s.%s", prefix, strings.ToLower(name), hex.EncodeToString(b[:]))
}

// NewTopic creates a uniquely named topic with the given partitions, waits until every partition
// has a leader, and deletes it when t ends.
func NewTopic(t testing.TB, brokers []string, partitions int) string {
	t.Helper()
	topic := UniqueName(t, "t")
	CreateTopic(t, brokers, topic, partitions)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = Client(brokers).DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	})
	return topic
}

// CreateTopic creates topic with the given partitions (replication factor 1) and waits until every
// partition's leader serves it.
func CreateTopic(t testing.TB, brokers []string, topic string, partitions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := Client(brokers)
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: 1,
	}}})
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := res.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	for {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil &&
			len(md.Topics[0].Partitions) == partitions && allLed(md.Topics[0].Partitions) {
			// The metadata names a leader a moment before the leader serves the partition:
			// wait until every partition answers a list-offsets request too.
			EndOffsets(t, brokers, topic)
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s: partitions have no leader after 60s (last error: %v)", topic, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func allLed(ps []kafka.Partition) bool {
	for _, p := range ps {
		if p.Error != nil || p.Leader.ID < 0 || p.Leader.Host == "" {
			return false
		}
	}
	return true
}

// Partitions returns the number of partitions of topic.
func Partitions(t testing.TB, brokers []string, topic string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := Client(brokers).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		t.Fatalf("metadata of %s: %v", topic, errors.Join(err, topicErr(md)))
	}
	return len(md.Topics[0].Partitions)
}

func topicErr(md *kafka.MetadataResponse) error {
	if md == nil || len(md.Topics) == 0 {
		return nil
	}
	return md.Topics[0].Error
}
