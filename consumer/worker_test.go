package consumer

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/offsetfetch"

	"github.com/profile-ingest/profile-ingest/batcher"
	"github.com/profile-ingest/profile-ingest/profile"
)

// offsetFetchAnswer is a transport that answers every OffsetFetch with res.
type offsetFetchAnswer struct{ res *offsetfetch.Response }

func (a offsetFetchAnswer) RoundTrip(context.Context, net.Addr, kafka.Request) (kafka.Response, error) {
	return a.res, nil
}

// TestGroupReachedNeverGuesses: --stop-at-end ends only on an answer that names every partition
// asked at its target. A group-level error (the coordinator is loading, or moved) or a partition
// missing from the answer is no answer: it is retried, never read as "reached".
func TestGroupReachedNeverGuesses(t *testing.T) {
	targets := map[TopicPartition]int64{{"t", 0}: 10, {"t", 1}: 20, {"t", 2}: 0}
	owned := map[TopicPartition]bool{}
	part := func(p int32, off int64) offsetfetch.ResponsePartition {
		return offsetfetch.ResponsePartition{PartitionIndex: p, CommittedOffset: off}
	}
	answer := func(code int16, ps ...offsetfetch.ResponsePartition) *offsetfetch.Response {
		res := &offsetfetch.Response{ErrorCode: code}
		if len(ps) > 0 {
			res.Topics = []offsetfetch.ResponseTopic{{Name: "t", Partitions: ps}}
		}
		return res
	}
	for _, c := range []struct {
		name    string
		res     *offsetfetch.Response
		reached bool
		err     bool
	}{
		{"every partition at its target", answer(0, part(0, 10), part(1, 20)), true, false},
		{"one partition behind", answer(0, part(0, 10), part(1, 19)), false, false},
		{"coordinator loading", answer(int16(kafka.GroupCoordinatorNotAvailable)), false, true},
		{"coordinator load in progress", answer(int16(kafka.GroupLoadInProgress)), false, true},
		{"not the coordinator", answer(int16(kafka.NotCoordinatorForGroup)), false, true},
		{"a partition missing from the answer", answer(0, part(0, 10)), false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			cfg.Brokers, cfg.Topics, cfg.GroupID = []string{"127.0.0.1:1"}, []string{"t"}, "g"
			cfg.Transport = offsetFetchAnswer{c.res}
			w, err := New(cfg, func(_, _ []byte, _ profile.Origin) (profile.Event, error) { return profile.Event{}, nil },
				batcher.Config{MaxRecords: 400, MaxBytes: 819200, Linger: time.Second}, &fakeDispatch{}, &fakeDead{})
			if err != nil {
				t.Fatal(err)
			}
			reached, err := w.groupReached(t.Context(), targets, owned)
			if reached != c.reached || (err != nil) != c.err {
				t.Errorf("groupReached = %v, %v; want %v, error %v", reached, err, c.reached, c.err)
			}
		})
	}
}
