//go:build integration

package integration

import (
	"context"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

// TestWorkerCrashLosesNothing kills a worker with SIGKILL mid-stream: no drain, no final
// commit. The next run may send again what was in flight, but nothing may be missing.
func TestWorkerCrashLosesNothing(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 4)
	group := UniqueName(t, "g")
	s := mixedStream(10_000, 100, 300, 4)
	Produce(t, brokers, topic, s.msgs...)
	hub, url := newHubsim(t, hubsim.Faults{Latency: hubsim.Duration(20 * time.Millisecond), RejectDistinctID: s.rejectRE})
	bin := Binary(t, "profile-ingest")

	first := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url, "--max-in-flight", "2", "--commit-interval", "200ms")...)
	Eventually(t, 2*time.Minute, "2000 records committed", func() bool { return committedSum(t, brokers, group, topic) >= 2000 })
	first.Signal(syscall.SIGKILL)
	first.Wait(10 * time.Second)
	if hub.Stats().EventsApplied >= int64(s.good) {
		t.Fatal("everything was applied before the crash; the test proves nothing")
	}
	second := Start(t, workerEnv, bin, workerArgs(brokers, topic, group, url, "--stop-at-end")...)
	if code := second.Wait(3 * time.Minute); code != 0 {
		t.Fatalf("restarted backfill exited %d, want 0", code)
	}
	verifyOutcome(t, hub, brokers, topic, group, s, true)
	t.Logf("after SIGKILL: %d duplicates resent (allowed), nothing missing", hub.Stats().Duplicates)
}

// TestAuthOutagePausesInsteadOfDeadLettering: while the API answers 401, no record is
// dead-lettered or committed and /readyz says why; once credentials work, everything arrives.
func TestAuthOutagePausesInsteadOfDeadLettering(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 4)
	group := UniqueName(t, "g")
	s := mixedStream(3_000, 50, 0, 5)
	Produce(t, brokers, topic, s.msgs...)
	hub, url := newHubsim(t, hubsim.Faults{AuthOutage: true, RejectDistinctID: s.rejectRE})
	listen := freeAddr(t)
	w := Start(t, workerEnv, Binary(t, "profile-ingest"),
		workerArgs(brokers, topic, group, url, "--stop-at-end", "--listen", listen)...)

	Eventually(t, time.Minute, "/readyz reports the credential failure", func() bool {
		code, _ := httpGet(listen, "/readyz")
		return code == http.StatusServiceUnavailable && hub.Stats().Rejections["fault_auth_outage"] > 3
	})
	time.Sleep(2 * time.Second) // retries go on; nothing may be given up
	if n := len(ReadAll(t, brokers, topic+".dlq")); n != 0 {
		t.Fatalf("%d records dead-lettered during a 401 outage, want 0", n)
	}
	// The worker may commit where it started (offset 0: it pins the start position of a new
	// group), but never past a record the API has not accepted.
	for p, off := range CommittedOffsets(t, brokers, group, topic) {
		if off > 0 {
			t.Fatalf("partition %d committed to %d during a 401 outage", p, off)
		}
	}
	hub.SetFaults(hubsim.Faults{RejectDistinctID: s.rejectRE})
	if code := w.Wait(3 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d after the outage, want 0", code)
	}
	verifyOutcome(t, hub, brokers, topic, group, s, true)
}

// TestAPIOutageRecovers: an API answering 503 to everything for a while delays delivery but
// loses and dead-letters nothing.
func TestAPIOutageRecovers(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 4)
	group := UniqueName(t, "g")
	s := mixedStream(5_000, 50, 250, 6)
	Produce(t, brokers, topic, s.msgs...)
	hub, url := newHubsim(t, hubsim.Faults{ErrorRate: 1, ErrorStatus: 503, RetryAfter: hubsim.Duration(time.Second), RejectDistinctID: s.rejectRE})
	w := Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(brokers, topic, group, url, "--stop-at-end")...)
	Eventually(t, time.Minute, "the worker meets the outage", func() bool { return hub.Stats().Rejections["fault_status"] > 10 })
	time.Sleep(3 * time.Second)
	hub.SetFaults(hubsim.Faults{RejectDistinctID: s.rejectRE})
	if code := w.Wait(3 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d after the outage, want 0", code)
	}
	verifyOutcome(t, hub, brokers, topic, group, s, true)
}

// TestDeadLetterTopicOutageHoldsOffsets deletes the dead-letter topic under a running worker
// (the broker does not create topics on demand): the worker must neither drop the bad records
// nor commit past them, and must deliver them once the topic is back.
func TestDeadLetterTopicOutageHoldsOffsets(t *testing.T) {
	brokers := Brokers(t)
	topic := NewTopic(t, brokers, 1)
	group := UniqueName(t, "g")
	dlqTopic := topic + ".dlq"
	CreateTopic(t, brokers, dlqTopic, 1)
	t.Cleanup(func() { deleteTopic(brokers, dlqTopic) })
	hub, url := newHubsim(t, hubsim.Faults{})
	listen := freeAddr(t)
	w := Start(t, workerEnv, Binary(t, "profile-ingest"), workerArgs(brokers, topic, group, url, "--commit-interval", "200ms", "--listen", listen)...)

	good := mixedStream(200, 10, 0, 7)
	Produce(t, brokers, topic, good.msgs...)
	Eventually(t, time.Minute, "the first records committed", func() bool {
		return CommittedOffsets(t, brokers, group, topic)[0] == 200
	})
	deleteTopic(brokers, dlqTopic)
	time.Sleep(2 * time.Second)
	bad := kafka.Message{Key: []byte("it-user-x"), Value: []byte(`{"distinct_id":"it-user-x","operations":[{"add_email":"nope"}]}`)}
	after := mixedStream(50, 10, 0, 8)
	Produce(t, brokers, topic, append([]kafka.Message{bad}, after.msgs...)...)
	time.Sleep(5 * time.Second)
	if c := CommittedOffsets(t, brokers, group, topic)[0]; c > 200 {
		t.Fatalf("committed %d past the record at 200 whose dead-letter write cannot succeed", c)
	}
	if w.Exited() {
		t.Fatalf("the worker exited while the dead-letter topic was gone:\n%s", w.Output())
	}
	if code, body := httpGet(listen, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "dead letters not written to "+dlqTopic) {
		t.Errorf("/readyz while the dead-letter topic is gone: %d %q; want 503 naming it", code, body)
	}
	CreateTopic(t, brokers, dlqTopic, 1)
	Eventually(t, 2*time.Minute, "everything committed once the dead-letter topic is back", func() bool {
		return CommittedOffsets(t, brokers, group, topic)[0] == 251
	})
	if code, body := httpGet(listen, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz once the dead-letter topic is back: %d %q; want 200", code, body)
	}
	dead := ReadAll(t, brokers, dlqTopic)
	if len(dead) != 1 || string(dead[0].Value) != string(bad.Value) {
		t.Fatalf("dead-letter topic holds %d records, want exactly the bad one", len(dead))
	}
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(time.Minute); code != 0 {
		t.Fatalf("worker exited %d, want 0", code)
	}
	_ = hub
}

// TestBrokerRestartLosesNothing stops the broker under a running worker and starts it again.
// It needs a broker of its own: it starts one with deploy/kafka/kafka.sh on another port.
func TestBrokerRestartLosesNothing(t *testing.T) {
	own := StartOwnBroker(t)
	brokers := own.Brokers()
	topic := NewTopic(t, brokers, 4)
	group := UniqueName(t, "g")
	s := mixedStream(10_000, 100, 500, 9)
	Produce(t, brokers, topic, s.msgs...)
	hub, url := newHubsim(t, hubsim.Faults{Latency: hubsim.Duration(15 * time.Millisecond), RejectDistinctID: s.rejectRE})
	w := Start(t, workerEnv, Binary(t, "profile-ingest"),
		workerArgs(brokers, topic, group, url, "--stop-at-end", "--max-in-flight", "2", "--commit-interval", "200ms")...)

	Eventually(t, 2*time.Minute, "1500 records committed", func() bool { return committedSum(t, brokers, group, topic) >= 1500 })
	own.Sh("down")
	time.Sleep(3 * time.Second)
	own.Sh("up")
	if code := w.Wait(4 * time.Minute); code != 0 {
		t.Fatalf("backfill exited %d across a broker restart, want 0", code)
	}
	verifyOutcome(t, hub, brokers, topic, group, s, true)
	t.Logf("broker restarted mid-stream: %d duplicates resent (allowed), nothing missing", hub.Stats().Duplicates)
}

// committedSum adds up group's committed offsets on topic.
func committedSum(t *testing.T, brokers []string, group, topic string) int64 {
	var sum int64
	for _, off := range CommittedOffsets(t, brokers, group, topic) {
		sum += off
	}
	return sum
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func deleteTopic(brokers []string, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = Client(brokers).DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
}
