package tools

import (
	"cmp"
	"regexp"
	"time"
)

// Summary tallies dead letters for a human: by reason and status, by origin topic, by replay
// count, and the span of failure times. The zero Summary is empty and ready. A Summary is
// owned by one goroutine.
type Summary struct {
	Total         int
	ByReason      map[ReasonStatus]int
	ByOrigin      map[string]int
	ByReplayCount map[int]int
	ByKey         map[string]int // by record key (distinct_id): one entry per key on the topic
	ByError       map[string]int // by error text with quoted values elided (ErrorShape)
	OldestFailure time.Time      // the earliest first failure (else last failure, else record time)
	NewestFailure time.Time      // the latest FailedAt
	// Journal, when set before the first Add, says which dead letters `dlq replay` published:
	// they are counted in Replayed and ReplayedTo, the others are never replayed. Default: nil,
	// every dead letter counts as never replayed.
	Journal  *Journal
	Replayed int // dead letters the journal names as replayed
	// NeverReplayedBy counts, by reason and status, the dead letters the journal does not name.
	NeverReplayedBy map[ReasonStatus]int
	ReplayedTo      map[string]*ReplayedTo // by the topic of their latest replay
}

// NeverReplayed counts the dead letters no replay published: what is outstanding.
func (s *Summary) NeverReplayed() int { return s.Total - s.Replayed }

// Destinations lists ReplayedTo by count, largest first.
func (s *Summary) Destinations() []ReplayedTo { return replayedTo(s.ReplayedTo) }

var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// ErrorShape is an error text with its quoted values elided, so that errors of one kind count
// together: operations[0].add_email: "a b@x" is not a valid email → operations[0].add_email: "…"
// is not a valid email.
func ErrorShape(text string) string { return quoted.ReplaceAllString(text, `"…"`) }

// ReasonStatus is a reason with the API's last HTTP status (0: none).
type ReasonStatus struct {
	Reason string
	Status int
}

// Add counts e.
func (s *Summary) Add(e Entry) {
	if s.ByReason == nil {
		s.ByReason, s.ByOrigin, s.ByReplayCount = map[ReasonStatus]int{}, map[string]int{}, map[int]int{}
		s.ByKey, s.ByError, s.ReplayedTo = map[string]int{}, map[string]int{}, map[string]*ReplayedTo{}
		s.NeverReplayedBy = map[ReasonStatus]int{}
	}
	if e.Foreign {
		return // not a dead letter: ScanStats.NotDeadLetters counts it
	}
	s.Total++
	s.ByReason[ReasonStatus{e.Reason, e.Status}]++
	s.ByOrigin[e.Origin.Topic]++
	s.ByReplayCount[e.ReplayCount]++
	s.ByKey[string(e.Key)]++
	s.ByError[ErrorShape(e.Error)]++
	r, ok := s.Journal.Lookup(e.Partition, e.Offset)
	if !ok {
		s.NeverReplayedBy[ReasonStatus{e.Reason, e.Status}]++
	}
	if ok {
		s.Replayed++
		to := s.ReplayedTo[r.To]
		if to == nil {
			to = &ReplayedTo{Topic: r.To}
			s.ReplayedTo[r.To] = to
		}
		to.Count++
		if r.At.After(to.Last) {
			to.Last = r.At
		}
	}
	oldest := cmp.Or(e.FirstFailure, e.FailedAt())
	if s.OldestFailure.IsZero() || oldest.Before(s.OldestFailure) {
		s.OldestFailure = oldest
	}
	if newest := e.FailedAt(); newest.After(s.NewestFailure) {
		s.NewestFailure = newest
	}
}
