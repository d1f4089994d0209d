package tools

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// The replay journal is the durable record of what `dlq replay` published: a topic beside the
// dead-letter topic (JournalTopic, "<dlq>.replays", created by the first replay) holding one
// small JSON record per batch a replay published, keyed "<dlq>/<partition>". The dead-letter
// topic itself is never written, and the replay group's committed offset cannot tell a replayed
// record from one a filter skipped: the journal can.
//
// Ordering: a batch is published (acknowledged by every in-sync replica), then its journal
// record is written (acknowledged the same way), then the replay group's offset is committed.
// A crash between the publish and the journal write leaves records published but not
// journalled: the summary counts them as never replayed, and since the cursor did not move the
// next run publishes them again and journals them then. A crash between the journal write and
// the commit leaves a journal record for records that were published (the next run publishes
// and journals them again; the journal keeps the latest replay of each). So the journal may
// under-report replays for a moment but never names a replay that did not happen.

// JournalTopic is the replay journal of the dead-letter topic dlq.
func JournalTopic(dlq string) string { return dlq + ".replays" }

// JournalRecord is one record of the journal: the dead letters of one partition that one
// batch of a replay published. Keep its JSON stable: the journal outlives versions.
type JournalRecord struct {
	Topic     string `json:"dlq_topic"`
	Partition int    `json:"partition"`
	// From and To bound the offsets the batch settled, [From, To): the replayed ones and the
	// ones it skipped.
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// Replayed lists, by destination topic, the offsets of the dead letters published there.
	Replayed map[string][]int64 `json:"replayed"`
	Group    string             `json:"group"`
	At       time.Time          `json:"at"`
}

// Replay is what the journal says of one dead letter: the latest replay of it.
type Replay struct {
	To    string    // the topic it was published to
	Group string    // the replay's group
	At    time.Time // when its batch was journalled
}

// Journal is what a replay journal says was replayed, by partition and offset of the
// dead-letter topic. The zero Journal knows of no replay. It is read-only once built.
type Journal struct {
	replays map[int]map[int64]Replay
	Records int // journal records read
}

// Lookup returns the latest replay of the dead letter at partition/offset, if any.
func (j *Journal) Lookup(partition int, offset int64) (Replay, bool) {
	if j == nil {
		return Replay{}, false
	}
	r, ok := j.replays[partition][offset]
	return r, ok
}

// NewJournal returns the Journal recs make, as ReadJournal would from a topic holding them.
func NewJournal(recs ...JournalRecord) *Journal {
	j := &Journal{}
	for _, r := range recs {
		j.Records++
		j.add(r)
	}
	return j
}

func (j *Journal) add(rec JournalRecord) {
	if j.replays == nil {
		j.replays = map[int]map[int64]Replay{}
	}
	if j.replays[rec.Partition] == nil {
		j.replays[rec.Partition] = map[int64]Replay{}
	}
	for to, offsets := range rec.Replayed {
		for _, off := range offsets {
			if old, ok := j.replays[rec.Partition][off]; !ok || !rec.At.Before(old.At) {
				j.replays[rec.Partition][off] = Replay{To: to, Group: rec.Group, At: rec.At}
			}
		}
	}
}

// ReadJournal reads the replay journal of the scanner's dead-letter topic, from its start to
// its end offsets now. A journal topic that does not exist (no replay ever published) is an
// empty Journal. Records of another dead-letter topic, or that are not journal records, are
// ignored.
func (s *Scanner) ReadJournal(ctx context.Context) (*Journal, error) {
	j := &Journal{}
	js := *s
	js.topic = JournalTopic(s.topic)
	spans, err := js.spans(ctx, Filter{})
	if errors.Is(err, ErrTopicNotFound) {
		return j, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dlq: replay journal: %w", err)
	}
	for _, sp := range spans {
		err := js.read(ctx, sp.partition, sp.first, sp.end, func(m kafka.Message) error {
			var rec JournalRecord
			if json.Unmarshal(m.Value, &rec) != nil || rec.Topic != s.topic {
				return nil
			}
			j.Records++
			j.add(rec)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("dlq: replay journal: %w", err)
		}
	}
	return j, nil
}

// ensureJournal creates the journal topic (one partition, the broker's default replication
// and retention) unless it exists.
func (s *Scanner) ensureJournal(ctx context.Context) error {
	topic := JournalTopic(s.topic)
	res, err := s.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: 1, ReplicationFactor: -1,
	}}})
	if err == nil {
		err = res.Errors[topic]
	}
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("dlq: replay: creating the replay journal %s: %w", topic, err)
	}
	return nil
}

// journalMessage is the journal record of batch b of partition, or false when b published nothing.
func (r *Replayer) journalMessage(partition int, b *batch, at time.Time) (kafka.Message, bool) {
	rec := JournalRecord{Topic: r.s.topic, Partition: partition, To: b.next, Replayed: map[string][]int64{}, Group: r.cfg.Group, At: at.UTC()}
	rec.From = b.next
	for _, d := range b.decided {
		rec.From = min(rec.From, d.e.Offset)
		if d.o == Replayed {
			rec.Replayed[d.dest] = append(rec.Replayed[d.dest], d.e.Offset)
		}
	}
	if len(rec.Replayed) == 0 {
		return kafka.Message{}, false
	}
	v, _ := json.Marshal(rec) // cannot fail: plain types
	return kafka.Message{Topic: JournalTopic(r.s.topic), Key: fmt.Appendf(nil, "%s/%d", r.s.topic, partition), Value: v}, true
}

// ReplayedTo counts, for a summary, dead letters by the topic they were last replayed to, with
// the time of the latest replay to each.
type ReplayedTo struct {
	Topic string
	Count int
	Last  time.Time
}

// replayedTo orders the summary's destinations by count, largest first.
func replayedTo(m map[string]*ReplayedTo) []ReplayedTo {
	out := make([]ReplayedTo, 0, len(m))
	for _, r := range m {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b ReplayedTo) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Topic, b.Topic)) })
	return out
}
