//go:build integration

package integration

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestCompressedBatchesAreDelivered: upstream producers compress (Debezium and most Java
// services with lz4 or zstd, others with gzip or snappy). A topic holding batches of every
// codec Kafka defines, one after the other, is applied whole and in order, its bad records
// dead-lettered, as an uncompressed one is.
func TestCompressedBatchesAreDelivered(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 4)
	group := UniqueName(t, "g")
	s := mixedStream(8_000, 200, 400, 11)
	codecs := []kafka.Compression{kafka.Gzip, kafka.Snappy, kafka.Lz4, kafka.Zstd}
	part := len(s.msgs) / len(codecs)
	for i, c := range codecs {
		end := (i + 1) * part
		if i == len(codecs)-1 {
			end = len(s.msgs)
		}
		ProduceCompressed(t, brokers, topic, c, s.msgs[i*part:end]...)
	}
	hs, url := newHubsim(t, hubsim.Faults{RejectDistinctID: s.rejectRE})
	w := Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(brokers, topic, group, url, "--stop-at-end")...)
	if code := w.Wait(3 * time.Minute); code != 0 {
		t.Fatalf("worker exited %d, want 0", code)
	}
	verifyOutcome(t, hs, brokers, topic, group, s, false)
}
