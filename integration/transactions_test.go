//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/profile-ingest/profile-ingest/hubsim"
	"github.com/profile-ingest/profile-ingest/internal/kafkautil"
)

// txTopic is a topic written as Flink or Kafka Streams with exactly-once write one: by two
// transactional producers at once and a plain one, record by record interleaved across
// partitions. What each user's records became is known: applied (committed or plain), aborted,
// or still in an open transaction.
type txTopic struct {
	topic                    string
	committed, aborted, open []string // users, one record each
	lso, hw                  map[int]int64
}

// writeTransactions writes, on 4 partitions:
//   - p0: plain, A committed, B aborted (interleaved), then C committed: a commit marker last;
//   - p1: A committed and B aborted interleaved, plain records between, A's second transaction;
//   - p2: plain, A committed, then an open transaction of C that stays open (the last stable
//     offset stops before it);
//   - p3: B aborted, plain, B aborted again: an abort marker last.
func writeTransactions(t *testing.T, brokers []string, topic string) txTopic {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tx := txTopic{topic: topic}
	producer := func(name string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(UniqueName(t, name)),
			kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.TransactionTimeout(5*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	a, b, c := producer("tx-a"), producer("tx-b"), producer("tx-c")
	n := 0
	rec := func(kind string, p int) *kgo.Record {
		n++
		u := fmt.Sprintf("%s-%03d", kind, n)
		switch kind {
		case "committed", "plain":
			tx.committed = append(tx.committed, u)
		case "aborted":
			tx.aborted = append(tx.aborted, u)
		case "open":
			tx.open = append(tx.open, u)
		}
		return &kgo.Record{Partition: int32(p), Key: []byte(u),
			Value: fmt.Appendf(nil, `{"distinct_id":%q,"event_id":%q,"operations":[{"set":{"kind":%q}}]}`, u, u, kind)}
	}
	send := func(cl *kgo.Client, kind string, ps ...int) {
		t.Helper()
		for _, p := range ps {
			if err := cl.ProduceSync(ctx, rec(kind, p)).FirstErr(); err != nil {
				t.Fatalf("produce %s to %d: %v", kind, p, err)
			}
		}
	}
	plain := func(ps ...int) {
		t.Helper()
		for _, p := range ps {
			r := rec("plain", p)
			tr := &kafka.Transport{DialTimeout: 10 * time.Second}
			w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: fixed(p), RequiredAcks: kafka.RequireAll,
				Transport: tr}
			if err := w.WriteMessages(ctx, kafka.Message{Key: r.Key, Value: r.Value}); err != nil {
				t.Fatalf("plain record to %d: %v", p, err)
			}
			_ = w.Close()
			tr.CloseIdleConnections() // see closingTransport
		}
	}
	end := func(cl *kgo.Client, commit kgo.TransactionEndTry) {
		t.Helper()
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("end transaction: %v", err)
		}
	}
	begin := func(cls ...*kgo.Client) {
		t.Helper()
		for _, cl := range cls {
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
		}
	}

	plain(0, 2)
	begin(a, b)
	send(a, "committed", 0, 1)
	send(b, "aborted", 0, 1, 3)
	plain(1, 3)
	send(a, "committed", 1, 2)
	send(b, "aborted", 1, 0)
	end(a, kgo.TryCommit)
	send(b, "aborted", 3)
	end(b, kgo.TryAbort)
	begin(a, b, c)
	send(a, "committed", 1)
	send(c, "committed", 0)
	plain(3, 1)
	send(b, "aborted", 3)
	end(a, kgo.TryCommit)
	end(c, kgo.TryCommit) // p0's last record: a commit marker
	end(b, kgo.TryAbort)  // p3's last record: an abort marker
	begin(c)
	send(c, "open", 2, 2)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.EndTransaction(ctx, kgo.TryAbort)
	})

	cl := Client(brokers)
	lso, err := kafkautil.OffsetsAs(ctx, cl, map[string][]int{topic: all(4)}, kafka.LastOffset, kafka.ReadCommitted)
	if err != nil {
		t.Fatal(err)
	}
	tx.lso, tx.hw = lso[topic], EndOffsets(t, brokers, topic)
	if tx.lso[2] >= tx.hw[2] || tx.lso[0] != tx.hw[0] {
		t.Fatalf("last stable offsets %v, ends %v: want the open transaction to hold p2 back, and only p2", tx.lso, tx.hw)
	}
	return tx
}

// fixed is a kafka-go balancer that writes to one partition.
type fixed int

func (f fixed) Balance(kafka.Message, ...int) int { return int(f) }

// TestTransactionalTopicReadCommitted: with the default read_committed, records of committed
// transactions and plain records are applied once, records of aborted transactions never, of an
// open one not yet; no transaction marker is dead-lettered; the group commits past the markers
// (to the end where a marker is a partition's last record, to the last stable offset where a
// transaction is open), and --stop-at-end exits 0.
func TestTransactionalTopicReadCommitted(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 4)
	tx := writeTransactions(t, brokers, topic)
	hub, url := newInProcessHubsim(t, hubsim.Faults{})
	group := UniqueName(t, "g")

	w := Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(brokers, topic, group, url, "--stop-at-end")...)
	if code := w.Wait(2 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d, want 0 (a marker is the last record of p0 and p3)", code)
	}
	checkApplied(t, hub, tx.committed, tx.aborted, tx.open)
	if dead := ReadAll(t, brokers, topic+".dlq"); len(dead) != 0 {
		t.Errorf("%d dead letters, want none: the first is %.200s", len(dead), dead[0].Value)
	}
	committed := CommittedOffsets(t, brokers, group, topic)
	for p := range 4 {
		if committed[p] != tx.lso[p] {
			t.Errorf("partition %d: committed %d, want %d (the last stable offset; the end is %d)", p, committed[p], tx.lso[p], tx.hw[p])
		}
	}
}

// TestTransactionalTopicReadUncommitted: with kafka.isolation_level read_uncommitted every data
// record is applied, aborted and open ones included, and the markers are still invisible.
func TestTransactionalTopicReadUncommitted(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 4)
	tx := writeTransactions(t, brokers, topic)
	hub, url := newInProcessHubsim(t, hubsim.Faults{})
	group := UniqueName(t, "g")
	cfg := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(cfg, []byte("kafka:\n  isolation_level: read_uncommitted\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(brokers, topic, group, url, "--config", cfg, "--stop-at-end")...)
	if code := w.Wait(2 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d, want 0", code)
	}
	checkApplied(t, hub, append(append(tx.committed, tx.aborted...), tx.open...), nil, nil)
	if dead := ReadAll(t, brokers, topic+".dlq"); len(dead) != 0 {
		t.Errorf("%d dead letters, want none: the first is %.200s", len(dead), dead[0].Value)
	}
	committed := CommittedOffsets(t, brokers, group, topic)
	for p := range 4 {
		if committed[p] != tx.hw[p] {
			t.Errorf("partition %d: committed %d, want the end %d", p, committed[p], tx.hw[p])
		}
	}
}

// checkApplied: every user of applied has exactly its one record applied; no user of never or
// notYet has a profile.
func checkApplied(t *testing.T, hub *Hub, applied, never, notYet []string) {
	t.Helper()
	for _, u := range applied {
		if p, ok := hub.Profile(u); !ok || p.EventsApplied != 1 {
			t.Errorf("%s: applied %d times, want once", u, p.EventsApplied)
		}
	}
	for _, u := range never {
		if _, ok := hub.Profile(u); ok {
			t.Errorf("%s, of an aborted transaction, was applied", u)
		}
	}
	for _, u := range notYet {
		if _, ok := hub.Profile(u); ok {
			t.Errorf("%s, of a transaction still open, was applied", u)
		}
	}
	if st := hub.Stats(); st.EventsApplied != int64(len(applied)) || st.Duplicates != 0 {
		t.Errorf("hubsim applied %d events (%d duplicates), want %d", st.EventsApplied, st.Duplicates, len(applied))
	}
}
