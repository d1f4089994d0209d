package tools

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/dlq"
	"github.com/profile-ingest/profile-ingest/internal/kafkautil"
)

// A purge deletes dead letters nobody will fix. Kafka deletes only a prefix of a partition
// (DeleteRecords: the log start moves up to an offset), so a purge selects records, and per
// partition deletes up to the first record it does not select: selected records after that one
// stay, and are counted as such.

// PurgeSelection says which dead letters a purge selects. Given both, a record must be both.
type PurgeSelection struct {
	// Before selects records written to the dead-letter topic (their Kafka timestamp) before
	// it. Default: zero, no bound by time.
	Before time.Time
	// Replayed selects records the replay journal names as replayed by `dlq replay`, and
	// records superseded by a later dead letter of the same original record (a replay of them
	// failed again and came back). Default: false.
	Replayed bool
}

// Validate refuses a selection that selects nothing by asking nothing.
func (s PurgeSelection) Validate() error {
	if s.Before.IsZero() && !s.Replayed {
		return errors.New("dlq: purge: select by Before, Replayed, or both")
	}
	return nil
}

// Why a purge selects a record; the keys of PartitionPlan.Deleted.
const (
	PurgeReplayed   = "replayed"   // the journal names it replayed
	PurgeSuperseded = "superseded" // a later dead letter of the same original record is on the topic
	PurgeOlder      = "older"      // written before Before (and not selected by Replayed)
)

// PartitionPlan is what a purge does, or would do, on one partition.
type PartitionPlan struct {
	Partition int
	Low, End  int64 // the log start offset and the end offset when the purge read the partition
	// DeleteBefore is the offset the purge deletes up to: the first record it keeps (End when it
	// selects every record, Low when it deletes nothing).
	DeleteBefore int64
	Deleted      map[string]int // records before DeleteBefore, by why they are selected
	// Blocked counts selected records at or after DeleteBefore: they stay, because a record
	// not selected precedes them.
	Blocked int
	// After Execute: the partition's log start offset the leader reports, or its error.
	NewLow int64
	Err    error
}

// Deletes counts the records the purge deletes from the partition.
func (p PartitionPlan) Deletes() int {
	n := 0
	for _, c := range p.Deleted {
		n += c
	}
	return n
}

// PurgePlan is a purge of one dead-letter topic, partition by partition.
type PurgePlan struct {
	Topic      string
	Selection  PurgeSelection
	Partitions []PartitionPlan
	Journal    int // journal records read
}

// Deletes counts the records the purge deletes.
func (p *PurgePlan) Deletes() int {
	n := 0
	for _, pp := range p.Partitions {
		n += pp.Deletes()
	}
	return n
}

// purgeItem is what a plan keeps of one record while it reads the topic.
type purgeItem struct {
	offset      int64
	time        time.Time
	original    string
	replayCount int
	journalled  bool
	foreign     bool
}

// PlanPurge reads the whole topic (every partition from its log start to its end offset now)
// and its replay journal, and returns what a purge with sel would delete. It changes nothing.
func (s *Scanner) PlanPurge(ctx context.Context, sel PurgeSelection) (*PurgePlan, error) {
	if err := sel.Validate(); err != nil {
		return nil, err
	}
	plan := &PurgePlan{Topic: s.topic, Selection: sel}
	var journal *Journal
	if sel.Replayed {
		j, err := s.ReadJournal(ctx)
		if err != nil {
			return nil, err
		}
		journal, plan.Journal = j, j.Records
	}
	spans, err := s.spans(ctx, Filter{})
	if err != nil {
		return nil, err
	}
	items := map[int][]purgeItem{}
	newest := map[string]int{}
	for _, sp := range spans {
		err := s.read(ctx, sp.partition, sp.first, sp.end, func(m kafka.Message) error {
			e := ParseEntry(m)
			_, journalled := journal.Lookup(m.Partition, m.Offset)
			items[sp.partition] = append(items[sp.partition], purgeItem{offset: m.Offset, time: m.Time, original: e.Original,
				replayCount: e.ReplayCount, journalled: journalled, foreign: e.Foreign})
			if !e.Foreign {
				newest[e.Original] = max(newest[e.Original], e.ReplayCount)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("dlq: purge: %w", err)
		}
	}
	for _, sp := range spans {
		plan.Partitions = append(plan.Partitions, sel.partitionPlan(sp, items[sp.partition], newest))
	}
	return plan, nil
}

// partitionPlan decides one partition: it deletes up to the first record sel does not select,
// or to the end when it selects every one.
func (sel PurgeSelection) partitionPlan(sp span, items []purgeItem, newest map[string]int) PartitionPlan {
	pp := PartitionPlan{Partition: sp.partition, Low: sp.first, End: sp.end, DeleteBefore: sp.end, Deleted: map[string]int{}, NewLow: -1}
	kept := false
	for _, it := range items {
		why := sel.why(it, newest)
		switch {
		case why == "" && !kept:
			kept, pp.DeleteBefore = true, it.offset
		case why != "" && kept:
			pp.Blocked++
		case why != "":
			pp.Deleted[why]++
		}
	}
	return pp
}

// why returns why sel selects it, "" when it does not.
func (sel PurgeSelection) why(it purgeItem, newest map[string]int) string {
	if !sel.Before.IsZero() && !it.time.Before(sel.Before) {
		return ""
	}
	if !sel.Replayed {
		return PurgeOlder
	}
	switch {
	case it.foreign:
		return ""
	case it.journalled:
		return PurgeReplayed
	case it.replayCount < newest[it.original]:
		return PurgeSuperseded
	}
	return ""
}

// ExportPurge writes every record plan deletes to w, one JSON object per line (ExportLine),
// partition by partition in offset order, and returns how many it wrote. It fails when the
// topic no longer holds exactly the records the plan counted (retention deleted some since).
func (s *Scanner) ExportPurge(ctx context.Context, plan *PurgePlan, w io.Writer) (int, error) {
	n := 0
	for _, pp := range plan.Partitions {
		got := 0
		err := s.read(ctx, pp.Partition, pp.Low, pp.DeleteBefore, func(m kafka.Message) error {
			got++
			b, err := json.Marshal(exportLineOf(m))
			if err != nil {
				return err
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return fmt.Errorf("dlq: purge export: %w", err)
			}
			n++
			return nil
		})
		if err != nil {
			return n, err
		}
		if got != pp.Deletes() {
			return n, fmt.Errorf("dlq: purge export: %s/%d: read %d records before offset %d, the plan counted %d: the topic changed since (retention?); nothing deleted, run again",
				s.topic, pp.Partition, got, pp.DeleteBefore, pp.Deletes())
		}
	}
	return n, nil
}

// ExportLine is one exported record: key, value and header values as strings when they are
// UTF-8, else base64 in the *_base64 field. Keep it stable: exports are kept.
type ExportLine struct {
	Partition   int          `json:"partition"`
	Offset      int64        `json:"offset"`
	Timestamp   string       `json:"timestamp"`
	Key         *string      `json:"key,omitempty"`
	KeyBase64   string       `json:"key_base64,omitempty"`
	Value       *string      `json:"value,omitempty"`
	ValueBase64 string       `json:"value_base64,omitempty"`
	Headers     []ExportHead `json:"headers"`
}

// ExportHead is one header of an ExportLine.
type ExportHead struct {
	Key         string  `json:"key"`
	Value       *string `json:"value,omitempty"`
	ValueBase64 string  `json:"value_base64,omitempty"`
}

func exportLineOf(m kafka.Message) ExportLine {
	l := ExportLine{Partition: m.Partition, Offset: m.Offset, Timestamp: dlq.FormatTime(m.Time), Headers: []ExportHead{}}
	l.Key, l.KeyBase64 = textOrBase64(m.Key)
	l.Value, l.ValueBase64 = textOrBase64(m.Value)
	for _, h := range m.Headers {
		eh := ExportHead{Key: h.Key}
		eh.Value, eh.ValueBase64 = textOrBase64(h.Value)
		l.Headers = append(l.Headers, eh)
	}
	return l
}

func textOrBase64(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

// ExecutePurge deletes, in every partition where plan deletes something, the records before
// DeleteBefore, and sets each partition's NewLow or Err. It returns the partitions' errors
// joined (nil when every deletion took).
func (s *Scanner) ExecutePurge(ctx context.Context, plan *PurgePlan) error {
	before := map[int]int64{}
	for _, pp := range plan.Partitions {
		if pp.DeleteBefore > pp.Low {
			before[pp.Partition] = pp.DeleteBefore
		}
	}
	results, err := kafkautil.DeleteRecords(ctx, s.client, s.topic, before, s.cfg.RequestTimeout)
	if err != nil {
		return fmt.Errorf("dlq: purge: %w", err)
	}
	var errs []error
	for _, r := range results {
		i := slices.IndexFunc(plan.Partitions, func(pp PartitionPlan) bool { return pp.Partition == r.Partition })
		if i < 0 {
			continue
		}
		plan.Partitions[i].NewLow, plan.Partitions[i].Err = r.LowWatermark, r.Err
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("delete records before offset %d: %w", plan.Partitions[i].DeleteBefore, r.Err))
		}
	}
	return errors.Join(errs...)
}

// ErrReplayRunning: a replay of the dead-letter topic runs; a purge waits for it.
var ErrReplayRunning = errors.New("a replay of the dead-letter topic runs")

// CheckNoReplay refuses (ErrReplayRunning, naming it) while a replay of the scanner's topic
// runs. A running replay is a member, subscribed to the dead-letter topic it reads, of its own
// group from its start and of the lock group (LockGroup) of each topic it publishes to once it
// has read the topic; every such member's client id begins with ReplayClientID. So it lists
// the consumer groups of every broker (each lists the groups it coordinates) and looks for such
// a member in each: the lock groups first, then the others.
func (s *Scanner) CheckNoReplay(ctx context.Context) error {
	md, err := s.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{s.topic}})
	if err != nil {
		return fmt.Errorf("dlq: purge: metadata: %w", err)
	}
	var groups []string
	for _, b := range md.Brokers {
		res, err := s.client.ListGroups(ctx, &kafka.ListGroupsRequest{Addr: kafka.TCP(net.JoinHostPort(b.Host, strconv.Itoa(b.Port)))})
		if err == nil {
			err = res.Error
		}
		if err != nil {
			return fmt.Errorf("dlq: purge: list groups of broker %d: %w", b.ID, err)
		}
		for _, g := range res.Groups {
			if g.ProtocolType == "consumer" { // others (connect) carry member metadata of another shape
				groups = append(groups, g.GroupID)
			}
		}
	}
	lock := LockGroup("")
	rank := func(g string) string { // the lock groups first
		if strings.HasPrefix(g, lock) {
			return "0" + g
		}
		return "1" + g
	}
	slices.SortFunc(groups, func(a, b string) int { return cmp.Compare(rank(a), rank(b)) })
	groups = slices.Compact(groups)
	for chunk := range slices.Chunk(groups, 100) {
		res, err := s.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: chunk})
		if err != nil {
			return fmt.Errorf("dlq: purge: describe groups: %w", err)
		}
		for _, g := range res.Groups {
			for _, m := range g.Members {
				if strings.HasPrefix(m.ClientID, ReplayClientID) && slices.Contains(m.MemberMetadata.Topics, s.topic) {
					what := "holds the lock group"
					if !strings.HasPrefix(g.GroupID, lock) {
						what = "is the replay group"
					}
					return fmt.Errorf("dlq: purge: %w: %s@%s %s %s, reading %s; wait for it to end (a replay killed without leaving stays a member for 10 s)",
						ErrReplayRunning, m.ClientID, m.ClientHost, what, g.GroupID, s.topic)
				}
			}
		}
	}
	return nil
}

// DeletedBy lists a partition's Deleted as "reason n" in a fixed order, for a report.
func (p PartitionPlan) DeletedBy() string {
	var parts []string
	for _, why := range []string{PurgeReplayed, PurgeSuperseded, PurgeOlder} {
		if n := p.Deleted[why]; n > 0 {
			parts = append(parts, why+" "+strconv.Itoa(n))
		}
	}
	return cmp.Or(strings.Join(parts, ", "), "-")
}
