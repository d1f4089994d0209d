package tools

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/dlq"
)

// ReplayConfig configures a Replayer.
type ReplayConfig struct {
	// Group is the consumer group that keeps the replay's position on the dead-letter topic.
	// Required; the command defaults it to "<topic>.replay".
	Group string
	// To publishes every replayed record to this topic. Default: "", each record's origin topic.
	To string
	// MaxReplays is the loop guard: a dead letter already replayed this many times is skipped.
	// Default: 3.
	MaxReplays int
	// DryRun reads and counts, and publishes and commits nothing. Default: false.
	DryRun bool
	// BatchRecords is how many records are read between two commits: a replay that dies
	// re-publishes at most this many on the next run. Default: 500.
	BatchRecords int
	// BatchBytes closes a batch early once its records to publish hold this many bytes. Default: 4 MiB.
	BatchBytes int
	// WriteTimeout bounds one publish of a batch. Default: 30s.
	WriteTimeout time.Duration
}

// DefaultReplay returns the defaults for group.
func DefaultReplay(group string) ReplayConfig {
	return ReplayConfig{Group: group, MaxReplays: 3, BatchRecords: 500, BatchBytes: 4 << 20, WriteTimeout: 30 * time.Second}
}

// Validate names the first field that is wrong and its value.
func (c ReplayConfig) Validate() error {
	switch {
	case strings.TrimSpace(c.Group) == "":
		return errors.New("dlq: replay Group is empty")
	case c.MaxReplays < 1:
		return fmt.Errorf("dlq: replay MaxReplays %d must be at least 1", c.MaxReplays)
	case c.BatchRecords < 1:
		return fmt.Errorf("dlq: replay BatchRecords %d must be positive", c.BatchRecords)
	case c.BatchBytes < 1:
		return fmt.Errorf("dlq: replay BatchBytes %d must be positive", c.BatchBytes)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("dlq: replay WriteTimeout %s must be positive", c.WriteTimeout)
	}
	return nil
}

// ReplayMessage returns the record that replays dead letter m to topic: the same key and value,
// the original record's headers, none of this package's but dlq.HeaderReplayCount, set to the dead
// letter's count + 1, and dlq.HeaderInsertID, and the original record's timestamp (a message without
// a "time" takes its event time from it), when the dead letter carries one.
func ReplayMessage(m kafka.Message, topic string) kafka.Message {
	h := make([]kafka.Header, 0, len(m.Headers))
	h = append(h, kafka.Header{Key: dlq.HeaderReplayCount, Value: []byte(strconv.Itoa(dlq.ReplayCount(m.Headers) + 1))})
	if id, ok := dlq.Header(m.Headers, dlq.HeaderInsertID); ok {
		h = append(h, kafka.Header{Key: dlq.HeaderInsertID, Value: []byte(id)})
	}
	h = append(h, kafka.Header{Key: dlq.HeaderOriginal, Value: []byte(ParseEntry(m).Original)})
	for _, x := range m.Headers {
		if !dlq.IsOwnHeader(x.Key) {
			h = append(h, x)
		}
	}
	out := kafka.Message{Topic: topic, Key: m.Key, Value: m.Value, Headers: h}
	if v, ok := dlq.Header(m.Headers, dlq.HeaderOriginTimestamp); ok {
		out.Time = parseTime(v)
	}
	return out
}

// Outcome is what a replay did, or would do, with one dead letter.
type Outcome int

const (
	Replayed      Outcome = iota // published again
	SkippedFilter                // the filter does not keep it; the cursor moves past it
	SkippedLimit                 // kept, but replayed MaxReplays times already: the loop guard
	// SkippedSuperseded: kept, but a later copy of the same original record (a dead letter of
	// a replay of it, with a higher replay count) is on the topic: only the newest copy of each
	// original is replayed, so replays with fresh groups do not multiply the copies.
	SkippedSuperseded
)

// Counts is one row of a replay's histogram.
type Counts struct{ Replayed, SkippedFilter, SkippedLimit, SkippedSuperseded int }

func (c *Counts) add(o Outcome, n int) {
	switch o {
	case SkippedSuperseded:
		c.SkippedSuperseded += n
	case Replayed:
		c.Replayed += n
	case SkippedFilter:
		c.SkippedFilter += n
	case SkippedLimit:
		c.SkippedLimit += n
	}
}

// MaxGuarded is how many loop-guarded dead letters a ReplayReport keeps by name.
const MaxGuarded = 20

// ReplayReport is what a replay did (or, dry, would do), by reason, by reason and status, and by
// destination topic. Only records whose batch was published and committed are counted.
type ReplayReport struct {
	Counts                           // every record
	Unread        int64              // offsets before Filter.Since, skipped without being read
	ByReason      map[string]*Counts // by dlq.HeaderReason
	ByStatus      map[ReasonStatus]*Counts
	ByDestination map[string]*Counts // where replayed records go (or would); skipped ones are not here
	Missing       map[string]int     // dry run: records whose destination topic does not exist ("" for no origin header)
	Guarded       []Entry            // the first MaxGuarded loop-guarded dead letters
	Start, End    map[int]int64      // per partition: where the replay began and the end offset seen at start
}

func newReport() *ReplayReport {
	return &ReplayReport{ByReason: map[string]*Counts{}, ByStatus: map[ReasonStatus]*Counts{},
		ByDestination: map[string]*Counts{}, Missing: map[string]int{}, Start: map[int]int64{}, End: map[int]int64{}}
}

func (r *ReplayReport) add(e Entry, dest string, o Outcome) {
	r.Counts.add(o, 1)
	row := func(m map[string]*Counts, k string) *Counts {
		if m[k] == nil {
			m[k] = &Counts{}
		}
		return m[k]
	}
	row(r.ByReason, e.Reason).add(o, 1)
	rs := ReasonStatus{e.Reason, e.Status}
	if r.ByStatus[rs] == nil {
		r.ByStatus[rs] = &Counts{}
	}
	r.ByStatus[rs].add(o, 1)
	if o == Replayed {
		row(r.ByDestination, dest).add(o, 1)
	}
	if o == SkippedLimit && len(r.Guarded) < MaxGuarded {
		e.Value = nil // keep the report small
		r.Guarded = append(r.Guarded, e)
	}
}

// Progress is where a replay stands, for a progress line.
type Progress struct {
	Total, Read int64 // records in the ranges to read at start, records read and settled
	Counts
}

// ReplayOption sets an optional collaborator of a Replayer.
type ReplayOption func(*Replayer)

// WithProgress has Run call fn after each batch is settled. Default: none.
func WithProgress(fn func(Progress)) ReplayOption { return func(r *Replayer) { r.progress = fn } }

// Replayer re-publishes dead letters to their origin topic, resumably: it keeps its position
// on the dead-letter topic in a consumer group and commits a partition's offset only once
// every record before it is published or deliberately skipped. The dead-letter topic itself is
// never modified. A Replayer is owned by one goroutine. While it runs it is the one member of
// its group, and a second replay with the same group is refused (ErrGroupInUse).
type Replayer struct {
	s        *Scanner
	cfg      ReplayConfig
	w        *kafka.Writer
	exists   map[string]bool // destination topics checked so far
	progress func(Progress)
	gen      *kafka.Generation // the group generation a running replay commits with
}

// NewReplayer returns a Replayer reading with s.
func NewReplayer(s *Scanner, cfg ReplayConfig, opts ...ReplayOption) (*Replayer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.To == s.topic {
		return nil, fmt.Errorf("dlq: replay To %s is the dead-letter topic itself", cfg.To)
	}
	r := &Replayer{s: s, cfg: cfg, exists: map[string]bool{}}
	r.w = &kafka.Writer{
		Addr:         kafka.TCP(s.brokers...),
		Balancer:     &kafka.Murmur2Balancer{}, // a user's records land where Java clients put them
		RequiredAcks: kafka.RequireAll,
		Transport:    s.transport,
		MaxAttempts:  3,
		BatchSize:    cfg.BatchRecords,
		BatchBytes:   16 << 20,
		BatchTimeout: time.Millisecond,
		WriteTimeout: cfg.WriteTimeout,
		ReadTimeout:  cfg.WriteTimeout,
	}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Close closes the producer.
func (r *Replayer) Close() error { return r.w.Close() }

// ErrMissingDestination: a dead letter's destination topic does not exist, or it has no origin
// topic header and no To was given.
var ErrMissingDestination = errors.New("destination topic missing")

// Run replays the dead letters f keeps from the group's committed offsets (the start of each
// partition without one, or Filter.Since by record time when later) up to the end offsets seen
// when it began, then returns what it did. On an error the report counts what was published
// and committed before it; running again continues from there. When ctx ends it stops reading,
// publishes and commits the batch in hand, and returns ctx's error with a report of exactly
// what was published and committed.
func (r *Replayer) Run(ctx context.Context, f Filter) (*ReplayReport, error) {
	rep := newReport()
	if err := f.Validate(); err != nil {
		return rep, err
	}
	spans, err := r.s.spans(ctx, f)
	if err != nil {
		return rep, err
	}
	if !r.cfg.DryRun {
		release, err := r.claim(ctx)
		if err != nil {
			return rep, err
		}
		defer release()
		if err := r.s.ensureJournal(ctx); err != nil {
			return rep, err
		}
	}
	committed, err := r.committed(ctx, spans)
	if err != nil {
		return rep, err
	}
	newest, dests, err := r.newestCopies(ctx, spans)
	if err != nil {
		return rep, err
	}
	if !r.cfg.DryRun {
		if r.cfg.To != "" {
			dests = []string{r.cfg.To}
		}
		release, err := r.lockDestinations(ctx, dests)
		if err != nil {
			return rep, err
		}
		defer release()
	}
	var total, read int64
	starts := map[int]int64{}
	for _, sp := range spans {
		start := sp.first
		if c, ok := committed[sp.partition]; ok && c >= sp.first && c <= sp.end {
			start = c // else out of range: retention deleted past it, or the topic was recreated
		}
		starts[sp.partition] = start
		rep.Start[sp.partition], rep.End[sp.partition] = start, sp.end
		total += sp.end - max(start, sp.since)
	}
	if !r.cfg.DryRun {
		// Prove the group takes the replay's commits before anything is published: re-commit
		// where each partition stands (the log start without a commit, which changes nothing).
		if err := r.commit(ctx, starts); err != nil {
			return rep, err
		}
	}
	for _, sp := range spans {
		pos := starts[sp.partition]
		if sp.since > pos {
			rep.Unread += sp.since - pos
			rep.SkippedFilter += int(sp.since - pos)
			pos = sp.since
			if err := r.commitOne(ctx, sp.partition, pos); err != nil {
				return rep, err
			}
		}
		b := &batch{}
		settle := func() error {
			// The batch in hand is published and committed even when ctx has ended (each write
			// bounded by WriteTimeout), so an interrupted replay's counts are what it did.
			if err := r.flush(context.WithoutCancel(ctx), rep, sp.partition, b); err != nil {
				return err
			}
			read += int64(b.read)
			*b = batch{}
			if r.progress != nil {
				r.progress(Progress{Total: total, Read: read, Counts: rep.Counts})
			}
			return nil
		}
		err := r.s.read(ctx, sp.partition, pos, sp.end, func(m kafka.Message) error {
			e := ParseEntry(m)
			d := decided{e: e, o: Replayed}
			switch {
			case !f.Match(e):
				d.o = SkippedFilter
			case e.ReplayCount < newest[e.Original]:
				d.o = SkippedSuperseded
			case e.ReplayCount >= r.cfg.MaxReplays:
				d.o = SkippedLimit
			default:
				d.dest = r.cfg.To
				if d.dest == "" {
					d.dest = e.Origin.Topic
				}
				b.msgs = append(b.msgs, ReplayMessage(m, d.dest))
				b.bytes += len(m.Key) + len(m.Value)
			}
			b.decided = append(b.decided, d)
			b.read++
			b.next = m.Offset + 1
			if b.read >= r.cfg.BatchRecords || b.bytes >= r.cfg.BatchBytes {
				return settle()
			}
			return ctx.Err() // interrupted: stop reading; what was read is settled below
		})
		if b.read > 0 && (err == nil || ctx.Err() != nil) {
			if serr := settle(); serr != nil {
				err = serr
			}
		}
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// newestCopies reads the whole topic up to the spans' end offsets, from each partition's log
// start (copies behind the group's cursor count too), and returns the highest replay count of
// each original record, and the origin topics of the dead letters (sorted). It holds one map
// entry per original record on the topic.
func (r *Replayer) newestCopies(ctx context.Context, spans []span) (map[string]int, []string, error) {
	newest := map[string]int{}
	origins := map[string]bool{}
	for _, sp := range spans {
		err := r.s.read(ctx, sp.partition, sp.first, sp.end, func(m kafka.Message) error {
			e := ParseEntry(m)
			newest[e.Original] = max(newest[e.Original], e.ReplayCount)
			if e.Origin.Topic != "" {
				origins[e.Origin.Topic] = true
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("dlq: replay: reading %s/%d for the copies of each record: %w", r.s.topic, sp.partition, err)
		}
	}
	dests := make([]string, 0, len(origins))
	for t := range origins {
		dests = append(dests, t)
	}
	slices.Sort(dests)
	return newest, dests, nil
}

// batch is what was read since the last commit of a partition.
type batch struct {
	decided []decided
	msgs    []kafka.Message // the records to publish, in offset order
	bytes   int
	read    int
	next    int64 // the offset to commit once msgs are published
}

type decided struct {
	e    Entry
	o    Outcome
	dest string
}

// flush publishes b, commits its partition past it and counts it; dry, it only counts.
func (r *Replayer) flush(ctx context.Context, rep *ReplayReport, partition int, b *batch) error {
	for _, d := range b.decided {
		if d.o != Replayed {
			continue
		}
		if err := r.checkDestination(ctx, d); err != nil {
			if !r.cfg.DryRun || !errors.Is(err, ErrMissingDestination) {
				return err
			}
			rep.Missing[d.dest]++
		}
	}
	if !r.cfg.DryRun {
		if len(b.msgs) > 0 {
			wctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
			err := r.w.WriteMessages(wctx, b.msgs...)
			cancel()
			if err != nil {
				return fmt.Errorf("dlq: replay: publish %d records from %s/%d (offsets before %d; nothing committed for them, run again to retry): %w",
					len(b.msgs), r.s.topic, partition, b.next, err)
			}
		}
		// The journal record is written after the publish and before the commit (journal.go).
		if jm, ok := r.journalMessage(partition, b, time.Now()); ok {
			wctx, cancel := context.WithTimeout(ctx, r.cfg.WriteTimeout)
			err := r.w.WriteMessages(wctx, jm)
			cancel()
			if err != nil {
				return fmt.Errorf("dlq: replay: %d records from %s/%d were published, but the replay journal %s did not take their record (nothing committed for them: the next run publishes them again): %w",
					len(b.msgs), r.s.topic, partition, JournalTopic(r.s.topic), err)
			}
		}
		if err := r.commitOne(ctx, partition, b.next); err != nil {
			return fmt.Errorf("%w (the %d records just published will be published again by the next run)", err, len(b.msgs))
		}
	}
	for _, d := range b.decided {
		rep.add(d.e, d.dest, d.o)
	}
	return nil
}

// checkDestination returns an error wrapping ErrMissingDestination when d cannot be published.
func (r *Replayer) checkDestination(ctx context.Context, d decided) error {
	where := fmt.Sprintf("dead letter %s/%d offset %d (key %q)", r.s.topic, d.e.Partition, d.e.Offset, d.e.Key)
	switch d.dest {
	case "":
		return fmt.Errorf("dlq: replay: %s has no %s header and no destination topic was given: %w", where, dlq.HeaderOriginTopic, ErrMissingDestination)
	case r.s.topic:
		return fmt.Errorf("dlq: replay: %s names the dead-letter topic itself as its origin; refusing to loop", where)
	}
	if ok, seen := r.exists[d.dest]; seen {
		if !ok {
			return fmt.Errorf("dlq: replay: destination topic %s of %s does not exist: %w", d.dest, where, ErrMissingDestination)
		}
		return nil
	}
	_, err := r.s.partitions(ctx, d.dest)
	switch {
	case errors.Is(err, ErrTopicNotFound):
		r.exists[d.dest] = false
		return fmt.Errorf("dlq: replay: destination topic %s of %s does not exist: %w", d.dest, where, ErrMissingDestination)
	case err != nil:
		return err
	}
	r.exists[d.dest] = true
	return nil
}

// committed returns the group's committed offsets of the spans' partitions; a partition without
// a commit is absent.
func (r *Replayer) committed(ctx context.Context, spans []span) (map[int]int64, error) {
	parts := make([]int, len(spans))
	for i, sp := range spans {
		parts[i] = sp.partition
	}
	res, err := r.s.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: r.cfg.Group, Topics: map[string][]int{r.s.topic: parts}})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return nil, fmt.Errorf("dlq: replay: committed offsets of group %s: %w", r.cfg.Group, err)
	}
	out := map[int]int64{}
	for _, p := range res.Topics[r.s.topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("dlq: replay: committed offset of group %s on %s/%d: %w", r.cfg.Group, r.s.topic, p.Partition, p.Error)
		}
		if p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out, nil
}

func (r *Replayer) commitOne(ctx context.Context, partition int, offset int64) error {
	if r.cfg.DryRun {
		return nil
	}
	return r.commit(ctx, map[int]int64{partition: offset})
}

// ErrGroupInUse: the replay's group has members, another replay or a consumer.
var ErrGroupInUse = errors.New("the group is in use")

// claim makes the replay the one member of its group for as long as it runs, so that a second
// replay with the same group (or a worker given it by mistake) sees it and is refused, instead of
// publishing the same dead letters a second time. It refuses a group that already has members.
// The replay commits with the generation it joins; release leaves the group.
func (r *Replayer) claim(ctx context.Context) (release func(), err error) {
	gen, leave, err := r.joinAlone(ctx, r.cfg.Group, func(who string) string {
		return fmt.Sprintf("group %s has %s: another replay, or a consumer, uses it; "+
			"wait for it to end (a replay killed without leaving stays a member for 10 s), or give --group", r.cfg.Group, who)
	})
	if err != nil {
		return nil, err
	}
	r.gen = gen
	return func() { r.gen = nil; leave() }, nil
}

// ReplayClientID begins the client id of every group member a replay is: its own group's and
// each lock group's. The rest is the replay's group.
const ReplayClientID = "profile-ingest-replay:"

// LockGroup is the consumer group a replay joins, alone, for each topic it publishes to, so that
// two replays into one topic under different groups (which would publish the same dead letters
// twice) are refused while one runs.
func LockGroup(topic string) string { return "profile-ingest.replay-lock." + topic }

// lockDestinations joins the lock group of every destination topic, or refuses, naming the
// replay that holds one.
func (r *Replayer) lockDestinations(ctx context.Context, dests []string) (release func(), err error) {
	var releases []func()
	release = func() {
		for _, f := range releases {
			f()
		}
	}
	for _, dest := range dests {
		_, rel, err := r.joinAlone(ctx, LockGroup(dest), func(who string) string {
			return fmt.Sprintf("another replay publishes to %s now (its lock group %s has %s): two replays into one topic would publish the same dead letters twice; wait for it to end (a replay killed without leaving holds it for 10 s)", dest, LockGroup(dest), who)
		})
		if err != nil {
			release()
			return nil, err
		}
		releases = append(releases, rel)
	}
	return release, nil
}

// joinAlone joins group as its one member, subscribed to the dead-letter topic (it reads nothing
// through it), with a client id naming this replay's group. A group with members is refused with
// busy's words (given "N members (client@host, …)"), wrapping ErrGroupInUse.
func (r *Replayer) joinAlone(ctx context.Context, group string, busy func(who string) string) (*kafka.Generation, func(), error) {
	if err := r.checkNoMembers(ctx, group, busy); err != nil {
		return nil, nil, err
	}
	dialer := *r.s.dialer
	dialer.ClientID = ReplayClientID + r.cfg.Group
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: group, Brokers: r.s.brokers, Dialer: &dialer, Topics: []string{r.s.topic},
		// A replay killed without leaving shows as a member this long.
		SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second, RebalanceTimeout: 10 * time.Second,
		JoinGroupBackoff: time.Second, Timeout: r.s.cfg.RequestTimeout,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("dlq: replay: group %s: %w", group, err)
	}
	gen, err := cg.Next(ctx)
	if err != nil {
		_ = cg.Close()
		return nil, nil, fmt.Errorf("dlq: replay: joining group %s: %w", group, err)
	}
	return gen, func() { _ = cg.Close() }, nil
}

// checkNoMembers refuses a group that has members.
func (r *Replayer) checkNoMembers(ctx context.Context, group string, busy func(who string) string) error {
	res, err := r.s.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return fmt.Errorf("dlq: replay: describe group %s: %w", group, err)
	}
	for _, g := range res.Groups {
		if g.Error != nil || len(g.Members) == 0 {
			continue
		}
		var who []string
		for _, m := range g.Members {
			who = append(who, m.ClientID+"@"+m.ClientHost)
		}
		return fmt.Errorf("dlq: replay: %s: %w", busy(fmt.Sprintf("%d members (%s)", len(g.Members), strings.Join(who, ", "))), ErrGroupInUse)
	}
	return nil
}

// commit commits offsets with the generation claim joined. It fails once another member has
// joined the group and ended that generation.
func (r *Replayer) commit(ctx context.Context, offsets map[int]int64) error {
	if len(offsets) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.gen.CommitOffsets(map[string]map[int]int64{r.s.topic: offsets}); err != nil {
		if errors.Is(err, kafka.RebalanceInProgress) || errors.Is(err, kafka.IllegalGeneration) || errors.Is(err, kafka.UnknownMemberId) {
			err = fmt.Errorf("%w (another member joined the group; this replay stops, run it again to continue: %w)", err, ErrGroupInUse)
		}
		return fmt.Errorf("dlq: replay: commit group %s on %s: %w", r.cfg.Group, r.s.topic, err)
	}
	return nil
}
