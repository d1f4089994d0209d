//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// The tests of this file run against a three-node cluster of deploy/kafka/kafka.sh
// (`make test-cluster`): $KAFKA_CLUSTER_BROKERS names its nodes, $KAFKA_CLUSTER_PORT and
// $KAFKA_CLUSTER_NODES let a test stop, kill and start one node. Without them they are skipped.

// cluster is the three-node cluster a test runs against.
type cluster struct {
	t       *testing.T
	brokers []string
	env     []string
	down    map[int]bool // nodes this test killed and has not started again
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	env := strings.TrimSpace(os.Getenv("KAFKA_CLUSTER_BROKERS"))
	port, nodes := os.Getenv("KAFKA_CLUSTER_PORT"), os.Getenv("KAFKA_CLUSTER_NODES")
	if env == "" || port == "" || nodes == "" {
		t.Skip("KAFKA_CLUSTER_BROKERS, KAFKA_CLUSTER_PORT or KAFKA_CLUSTER_NODES is unset: the cluster tests need " +
			"`KAFKA_NODES=3 deploy/kafka/kafka.sh with ...` (`make test-cluster` does it)")
	}
	c := &cluster{t: t, brokers: strings.Split(env, ","), down: map[int]bool{}, env: []string{"KAFKA_PORT=" + port, "KAFKA_NODES=" + nodes,
		// A node SIGKILLed recovers its logs at start: on a loaded machine that can take minutes.
		"KAFKA_READY_TIMEOUT=300"}}
	if len(c.brokers) < 3 {
		t.Skipf("the cluster tests need three nodes, KAFKA_CLUSTER_BROKERS names %d", len(c.brokers))
	}
	// Every node runs and serves before the test (a node an earlier test killed may still be
	// recovering); the nodes this test kills are started again when it ends, in the background
	// of its verdict: the next test's `up` waits for them.
	c.sh("up")
	t.Cleanup(func() {
		for node := range c.down {
			if _, err := c.run("start-node", strconv.Itoa(node)); err != nil {
				t.Logf("restarting node %d after the test: %v (the next test waits for it)", node, err)
			}
		}
	})
	return c
}

// sh runs deploy/kafka/kafka.sh for this cluster and returns what it printed on stdout; it
// fails the test if the script fails.
func (c *cluster) sh(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *cluster) run(args ...string) (string, error) {
	cmd := exec.Command("deploy/kafka/kafka.sh", args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), c.env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("kafka.sh %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func (c *cluster) kill(node int) {
	c.t.Helper()
	c.sh("kill-node", strconv.Itoa(node))
	c.down[node] = true
}

func (c *cluster) start(node int) {
	c.t.Helper()
	c.sh("start-node", strconv.Itoa(node))
	delete(c.down, node)
}

// live returns the nodes that run: the test's own admin requests go there (a request sent to a
// dead bootstrap address fails; the worker under test is given every node).
func (c *cluster) live() []string {
	var out []string
	for i, b := range c.brokers {
		if !c.down[i+1] {
			out = append(out, b)
		}
	}
	return out
}

// quorumLeader returns the node id of the controller quorum's leader.
func (c *cluster) quorumLeader() int {
	c.t.Helper()
	n, err := strconv.Atoi(c.sh("quorum-leader"))
	if err != nil {
		c.t.Fatalf("kafka.sh quorum-leader: %v", err)
	}
	return n
}

// topic creates a topic replicated on every node (min.insync.replicas 2, the cluster's
// default), waits until each partition's leader serves it, and deletes it when t ends.
func (c *cluster) topic(partitions int) string {
	c.t.Helper()
	topic := UniqueName(c.t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A node that has just started may not be registered yet (BROKER_NOT_AVAILABLE): try again.
	Eventually(c.t, time.Minute, "topic "+topic+" created on three replicas", func() bool {
		res, err := Client(c.brokers).CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
			Topic: topic, NumPartitions: partitions, ReplicationFactor: 3,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "min.insync.replicas", ConfigValue: "2"}},
		}}})
		if err == nil {
			err = res.Errors[topic]
		}
		if err != nil {
			c.t.Logf("create topic %s: %v (trying again)", topic, err)
		}
		return err == nil || errors.Is(err, kafka.TopicAlreadyExists)
	})
	c.t.Cleanup(func() { deleteTopic(c.brokers, topic); deleteTopic(c.brokers, topic+".dlq") })
	Eventually(c.t, time.Minute, "every partition of "+topic+" led, on three replicas", func() bool {
		md, err := Client(c.brokers).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err != nil || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != partitions || !allLed(md.Topics[0].Partitions) {
			return false
		}
		for _, p := range md.Topics[0].Partitions {
			if len(p.Isr) != 3 {
				return false
			}
		}
		return true
	})
	EndOffsets(c.t, c.brokers, topic)
	return topic
}

// waitInSync waits until every partition of topics has all three replicas in sync again, so
// that losing a node next leaves two.
func (c *cluster) waitInSync(topics ...string) {
	c.t.Helper()
	Eventually(c.t, 3*time.Minute, fmt.Sprintf("every replica of %v in sync", topics), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		md, err := Client(c.brokers).Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err != nil || len(md.Topics) != len(topics) {
			return false
		}
		for _, t := range md.Topics {
			for _, p := range t.Partitions {
				if t.Error != nil || len(p.Isr) != 3 {
					return false
				}
			}
		}
		return true
	})
}

// leaders returns, per partition of topic, the node id of its leader.
func (c *cluster) leaders(topic string) map[int]int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := Client(c.brokers).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) != 1 {
		c.t.Fatalf("metadata of %s: %v", topic, err)
	}
	out := map[int]int{}
	for _, p := range md.Topics[0].Partitions {
		out[p.ID] = p.Leader.ID
	}
	return out
}

// mostLeader returns the node leading the most partitions of topic.
func (c *cluster) mostLeader(topic string) int {
	count := map[int]int{}
	best := 0
	for _, node := range c.leaders(topic) {
		count[node]++
		if count[node] > count[best] {
			best = node
		}
	}
	return best
}

// coordinator returns the node id of group's coordinator.
func (c *cluster) coordinator(group string) int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Client(c.brokers).FindCoordinator(ctx, &kafka.FindCoordinatorRequest{Key: group, KeyType: kafka.CoordinatorKeyTypeConsumer})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		c.t.Fatalf("coordinator of %s: %v", group, err)
	}
	return res.Coordinator.NodeID
}

// backfill is a paced backfill of a replicated topic running on the cluster, and what it must
// deliver.
type backfill struct {
	c            *cluster
	topic, group string
	s            stream
	produced     int // records of s on the topic so far
	stopAtEnd    bool
	hub          *Hub
	w            *Process
}

// startBackfill puts the first `produced` records of a 15,000-record stream (one in badEvery to
// dead-letter) on a new six-partition topic and starts a worker on it, with --stop-at-end when
// they are all there. Few records are in flight and the pace is 1200 records/s at most (20
// requests/s of 60 records), so that the worker must fetch, commit and dead-letter all along
// the stream, when each fault hits. It returns once 1500 records are committed.
func (c *cluster) startBackfill(badEvery int, seed uint64, produced int) *backfill {
	t := c.t
	t.Helper()
	b := &backfill{c: c, topic: c.topic(6), group: UniqueName(t, "g"), s: mixedStream(15_000, 120, badEvery, seed)}
	b.produceUpTo(produced)
	b.stopAtEnd = produced == len(b.s.msgs)
	var url string
	b.hub, url = newHubsim(t, hubsim.Faults{Latency: hubsim.Duration(15 * time.Millisecond), RejectDistinctID: b.s.rejectRE})
	cfg := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(cfg, []byte("consumer:\n  max_in_flight_records: 600\nbatch:\n  max_records: 60\nsender:\n  max_requests_per_second: 20\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", cfg, "--max-in-flight", "2", "--commit-interval", "200ms"}
	if b.stopAtEnd {
		args = append(args, "--stop-at-end")
	}
	b.w = Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(c.brokers, b.topic, b.group, url, args...)...)
	Eventually(t, 3*time.Minute, "1500 records committed", func() bool { return b.committed() >= 1500 })
	return b
}

// produceUpTo puts the stream's records up to n on the topic.
func (b *backfill) produceUpTo(n int) {
	b.c.t.Helper()
	Produce(b.c.t, b.c.live(), b.topic, b.s.msgs[b.produced:n]...)
	b.produced = n
}

// committed returns the group's committed total on the topic. It asks for the six partitions
// by number, and again while the answer is an error: a node that has just started may not know
// the topic yet.
func (b *backfill) committed() int64 {
	t := b.c.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := &kafka.OffsetFetchRequest{GroupID: b.group, Topics: map[string][]int{b.topic: {0, 1, 2, 3, 4, 5}}}
	var sum int64
	Eventually(t, time.Minute, "the committed offsets of "+b.group, func() bool {
		res, err := Client(b.c.live()).OffsetFetch(ctx, req)
		if err != nil || res.Error != nil {
			return false
		}
		sum = 0
		for _, p := range res.Topics[b.topic] {
			if p.Error != nil {
				return false
			}
			sum += max(p.CommittedOffset, 0)
		}
		return true
	})
	return sum
}

// kill SIGKILLs node mid-stream and logs the worker's stall: how long the committed total
// takes to move by 200 records past its value just before (or to reach the records produced).
func (b *backfill) kill(node int, what string) {
	t := b.c.t
	t.Helper()
	from := b.committed()
	if from >= int64(b.produced) {
		t.Fatalf("the worker committed all %d records before the crash of %s: the test proves nothing", b.produced, what)
	}
	b.c.kill(node)
	began := time.Now()
	Eventually(t, 3*time.Minute, "the worker commits again after the crash of "+what, func() bool {
		sum := b.committed()
		return sum >= from+200 || sum >= int64(b.produced)
	})
	t.Logf("killed node %d, %s: the worker stalled %s", node, what, time.Since(began).Round(100*time.Millisecond))
}

// finish waits for the backfill to end with exit 0 (at the end, or after SIGTERM once it
// committed everything) and checks its outcome: nothing lost, per-user order, every dead
// letter, committed to the end, and no event sent twice beyond the records the worker left
// unresolved (abandoned, as its summary line counts them): every other record was resolved and
// its offset committed, so it must not be sent again.
func (b *backfill) finish() {
	t := b.c.t
	t.Helper()
	if !b.stopAtEnd {
		Eventually(t, 5*time.Minute, "every record committed", func() bool { return b.committed() >= int64(len(b.s.msgs)) })
		b.w.Signal(syscall.SIGTERM)
	}
	if code := b.w.Wait(5 * time.Minute); code != 0 {
		t.Fatalf("worker exited %d, want 0", code)
	}
	verifyOutcome(t, b.hub, b.c.live(), b.topic, b.group, b.s, true)
	abandoned, resent := summaryCount(t, b.w.Output(), "abandoned"), b.hub.Stats().Duplicates
	if resent > int64(abandoned) {
		t.Errorf("hubsim saw %d events twice, more than the %d records the worker left unresolved: resolved records were sent again", resent, abandoned)
	}
	t.Logf("%d events resent, %d records left unresolved", resent, abandoned)
}

// TestClusterLeaderCrashLosesNothing kills (SIGKILL) the node leading most partitions of a
// replicated topic under a running backfill (--stop-at-end), then starts it again. Nothing may
// be lost, nothing sent twice beyond what was unresolved, and the backfill must finish.
func TestClusterLeaderCrashLosesNothing(t *testing.T) {
	c := newCluster(t)
	b := c.startBackfill(400, 31, 15_000)
	victim := c.mostLeader(b.topic)
	t.Logf("group coordinator: node %d", c.coordinator(b.group))
	b.kill(victim, "the leader of most partitions")
	c.start(victim)
	b.finish()
}

// TestClusterBrokerLostForGood kills the controller quorum's leader and starts it again, then,
// once more records arrive, loses the group coordinator's node for good, under a running
// worker: it must go on with two of three nodes (dead letters need two in-sync replicas),
// commit through the new coordinator, lose nothing, send nothing twice beyond what was
// unresolved, and stop cleanly.
func TestClusterBrokerLostForGood(t *testing.T) {
	c := newCluster(t)
	b := c.startBackfill(300, 32, 6_000)
	lost := c.coordinator(b.group)
	if q := c.quorumLeader(); q != lost {
		b.kill(q, "the controller quorum's leader")
		c.start(q)
		c.waitInSync(b.topic, b.topic+".dlq", "__consumer_offsets")
	}
	b.produceUpTo(len(b.s.msgs))
	Eventually(t, 3*time.Minute, "the new records reached", func() bool { return b.committed() >= 6_000+1_500 })
	deadBefore := len(ReadAll(t, c.live(), b.topic+".dlq"))
	b.kill(lost, "the group coordinator's, for good")
	b.finish()
	if dead := len(ReadAll(t, c.live(), b.topic+".dlq")); dead <= deadBefore {
		t.Errorf("no record dead-lettered with one node lost (%d before, %d after): the test proves nothing about acks=all", deadBefore, dead)
	}
}
