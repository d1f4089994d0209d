package consumer

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// failingCommits fails the first len(errs) commits with errs, in order, then succeeds.
type failingCommits struct {
	commits
	errs  []error
	tries int
}

func (f *failingCommits) commit(ctx context.Context, o map[string]map[int]int64) error {
	f.tries++
	if f.tries <= len(f.errs) {
		return f.errs[f.tries-1]
	}
	return f.commits.commit(ctx, o)
}

func TestFinalCommitRetriesABrokenConnection(t *testing.T) {
	p, _, _ := testPipeline(t, &fakeDead{})
	closed := &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}
	f := &failingCommits{errs: []error{closed, closed, kafka.NotCoordinatorForGroup, closed}}
	p.commitOffsets = f.commit
	p.takeDecoded(record(0, `{"distinct_id":"u","operations":[{"set":{"a":1}}]}`))
	p.resolveRefs([]uint64{p.refOf(tp0, 0)})
	p.commitBy = time.Now().Add(time.Minute)
	p.commit(true)
	if got := f.at(tp0); got != 1 || f.tries != 5 {
		t.Fatalf("committed %d after %d tries, want 1 after 5: a final commit must outlast a broken connection", got, f.tries)
	}
}

func TestFinalCommitStopsWhenTheGenerationIsOver(t *testing.T) {
	p, _, _ := testPipeline(t, &fakeDead{})
	f := &failingCommits{errs: []error{kafka.IllegalGeneration, nil}}
	p.commitOffsets = f.commit
	p.takeDecoded(record(0, `{"distinct_id":"u","operations":[{"set":{"a":1}}]}`))
	p.resolveRefs([]uint64{p.refOf(tp0, 0)})
	p.commitBy = time.Now().Add(time.Minute)
	p.commit(true)
	if f.tries != 1 || f.at(tp0) != -1 {
		t.Fatalf("%d tries, committed %d; want 1 try and no commit: the broker fenced the generation", f.tries, f.at(tp0))
	}
}

func TestFinalCommitEndsAtTheDrainDeadline(t *testing.T) {
	p, _, _ := testPipeline(t, &fakeDead{})
	down := errors.New("connection refused")
	f := &failingCommits{errs: make([]error, 1000)}
	for i := range f.errs {
		f.errs[i] = down
	}
	p.commitOffsets = f.commit
	p.takeDecoded(record(0, `{"distinct_id":"u","operations":[{"set":{"a":1}}]}`))
	p.resolveRefs([]uint64{p.refOf(tp0, 0)})
	p.commitBy = time.Now() // the drain used all its time: only finalCommitFloor is left
	p.commit(true)          // returns: the test's own timeout catches a commit retried forever
	if f.tries < 2 || f.at(tp0) != -1 {
		t.Fatalf("gave up after %d tries, committed %d; want several tries within finalCommitFloor (%s), then none", f.tries, f.at(tp0), finalCommitFloor)
	}
}

func TestPeriodicCommitIsTriedOnce(t *testing.T) {
	p, _, _ := testPipeline(t, &fakeDead{})
	f := &failingCommits{errs: []error{errors.New("connection reset")}}
	p.commitOffsets = f.commit
	p.takeDecoded(record(0, `{"distinct_id":"u","operations":[{"set":{"a":1}}]}`))
	p.resolveRefs([]uint64{p.refOf(tp0, 0)})
	p.commit(false)
	if f.tries != 1 {
		t.Fatalf("%d tries of a periodic commit, want 1: the next tick tries again", f.tries)
	}
	p.commit(false)
	if f.at(tp0) != 1 {
		t.Fatalf("committed %d at the next tick, want 1", f.at(tp0))
	}
}
