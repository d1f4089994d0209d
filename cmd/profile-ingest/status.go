package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/internal/kafkautil"
)

// groupFlags say which consumer group, on which topics.
type groupFlags struct {
	kafkaFlags `embed:""`
	Group      string   `help:"Consumer group (default: the config file's kafka.group_id, else profile-ingest)." env:"PROFILE_INGEST_GROUP"`
	Topic      []string `help:"Only these topics; repeat or comma-separate (default: the config file's kafka.topics, else every topic the group has committed offsets for or is assigned)."`
}

// open connects and resolves the group and its topics.
func (f *groupFlags) open(cmd string) (*kafka.Client, string, []string, error) {
	cfg, _, transport, err := f.cluster(cmd)
	if err != nil {
		return nil, "", nil, err
	}
	group := cmp.Or(strings.TrimSpace(f.Group), cfg.Kafka.GroupID)
	topics := f.Topic
	if len(topics) == 0 {
		topics = cfg.Kafka.Topics
	}
	for _, t := range topics {
		if strings.TrimSpace(t) == "" {
			return nil, "", nil, fmt.Errorf("%s: --topic %q: a topic must not be empty", cmd, t)
		}
	}
	c := &kafka.Client{Addr: kafka.TCP(cfg.Kafka.Brokers...), Timeout: 30 * time.Second, Transport: transport}
	return c, group, slices.Clone(topics), nil
}

// statusCmd is `profile-ingest status`.
type statusCmd struct {
	groupFlags `embed:""`
	JSON       bool          `name:"json" help:"Print the state as one JSON object (with --watch, one per refresh)."`
	Watch      bool          `help:"Print again every --interval until interrupted."`
	Interval   time.Duration `help:"With --watch: time between two refreshes." default:"5s"`
}

// Help is the detailed help of "status --help".
func (c *statusCmd) Help() string {
	return `A consumer group's state read from the brokers, with no worker running: its members and the
partitions each is assigned; per partition the committed offset, the end offset, the lag in
records and in time (how long ago the next record the group would consume was written), and
totals. A partition without a commit shows "-" and its lag counts from the log start, where a
new group started at "earliest" would begin.`
}

func (c *statusCmd) Run() error {
	ctx, stop := signalContext()
	defer stop()
	return c.run(ctx, os.Stdout)
}

func (c *statusCmd) run(ctx context.Context, stdout io.Writer) error {
	const cmd = "status"
	if c.Watch && c.Interval <= 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: --interval %s must be positive", cmd, c.Interval)}
	}
	client, group, topics, err := c.open(cmd)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	for {
		st, err := describeGroup(ctx, client, group, topics, time.Now())
		if ctx.Err() != nil && c.Watch {
			return nil // interrupted while watching: a clean stop
		}
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		if c.JSON {
			if err := json.NewEncoder(stdout).Encode(st); err != nil {
				return err
			}
		} else {
			printGroupState(stdout, st)
		}
		if !c.Watch {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.Interval):
		}
		if !c.JSON {
			fmt.Fprintln(stdout)
		}
	}
}

// offsetsCmd is `profile-ingest offsets`.
type offsetsCmd struct {
	Reset offsetsResetCmd `cmd:"" help:"Move a consumer group's committed offsets (to the start, the end, a time or an offset) while no member runs; a dry run unless --execute."`
}

// offsetsResetCmd is `profile-ingest offsets reset`.
type offsetsResetCmd struct {
	groupFlags `embed:""`
	ToEarliest bool     `name:"to-earliest" help:"To each partition's log start."`
	ToLatest   bool     `name:"to-latest" help:"To each partition's end: skip everything written so far."`
	ToTime     string   `name:"to-time" help:"To the first record written at or after this RFC 3339 time (the end where none is)."`
	ToOffset   []string `name:"to-offset" help:"PARTITION:OFFSET, repeat for several; only these partitions move. Needs a single topic."`
	DryRun     bool     `name:"dry-run" help:"Print before and after per partition, commit nothing (the default)."`
	Execute    bool     `help:"Commit the new offsets."`
}

// Help is the detailed help of "offsets reset --help".
func (c *offsetsResetCmd) Help() string {
	return `Prints, per partition, the committed offset before and after, and the records that move
(negative: consumed again). It commits only with --execute, and only while the group has no
members: a worker or a replay that runs would overwrite the new offsets with its own at its next
commit, so it is refused, naming the members (exit 1); stop them, then run it again. A dry run
with members prints the plan and says it would be refused.

This is how an existing group replays history from a point in time: --start applies only to a
group without commits; stop the workers, "offsets reset --group G --to-time T --execute", start
them again.`
}

func (c *offsetsResetCmd) Run() error {
	ctx, stop := signalContext()
	defer stop()
	return c.run(ctx, os.Stdout)
}

// offsetMove is one partition's reset.
type offsetMove struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Before    int64  `json:"before"` // -1: no commit
	After     int64  `json:"after"`
}

func (c *offsetsResetCmd) run(ctx context.Context, stdout io.Writer) error {
	const cmd = "offsets reset"
	targets := 0
	for _, set := range []bool{c.ToEarliest, c.ToLatest, c.ToTime != "", len(c.ToOffset) > 0} {
		if set {
			targets++
		}
	}
	if targets != 1 {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: give exactly one of --to-earliest, --to-latest, --to-time, --to-offset", cmd)}
	}
	if c.DryRun && c.Execute {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: --dry-run and --execute: give one", cmd)}
	}
	var at time.Time
	if c.ToTime != "" {
		var err error
		if at, err = time.Parse(time.RFC3339Nano, c.ToTime); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("%s: --to-time %q: use an RFC 3339 time (2026-01-02T15:04:05Z)", cmd, c.ToTime)}
		}
	}
	offsets, err := parseToOffset(cmd, c.ToOffset)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	client, group, topics, err := c.open(cmd)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	st, err := describeGroup(ctx, client, group, topics, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	moves, err := c.plan(ctx, client, st, at, offsets)
	if err != nil {
		return err
	}
	printMoves(stdout, moves)
	if len(st.Members) > 0 {
		var who []string
		for _, m := range st.Members {
			who = append(who, fmt.Sprintf("%s (%s@%s)", m.ID, m.ClientID, m.Host))
		}
		err := fmt.Errorf("%s: group %s has %d members: %s; a running member would overwrite the new offsets: stop it, then run this again",
			cmd, group, len(st.Members), strings.Join(who, ", "))
		if !c.Execute {
			fmt.Fprintf(stdout, "dry run: --execute would be refused now: %v\n", err)
			return nil
		}
		return err
	}
	if !c.Execute {
		fmt.Fprintln(stdout, "dry run: nothing committed; add --execute to commit these offsets")
		return nil
	}
	if err := commitOffsets(ctx, client, group, moves); err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	fmt.Fprintf(stdout, "committed: group %s, %d partitions\n", group, len(moves))
	return nil
}

// parseToOffset reads --to-offset PARTITION:OFFSET values.
func parseToOffset(cmd string, values []string) (map[int]int64, error) {
	out := map[int]int64{}
	for _, v := range values {
		ps, os, ok := strings.Cut(strings.TrimSpace(v), ":")
		p, perr := strconv.Atoi(ps)
		o, oerr := strconv.ParseInt(os, 10, 64)
		if !ok || perr != nil || oerr != nil || p < 0 || o < 0 {
			return nil, fmt.Errorf("%s: --to-offset %q: use PARTITION:OFFSET, both whole numbers, e.g. 0:1200", cmd, v)
		}
		if _, dup := out[p]; dup {
			return nil, fmt.Errorf("%s: --to-offset: partition %d given twice", cmd, p)
		}
		out[p] = o
	}
	return out, nil
}

// plan computes each partition's new offset.
func (c *offsetsResetCmd) plan(ctx context.Context, client *kafka.Client, st *groupState, at time.Time, offsets map[int]int64) ([]offsetMove, error) {
	const cmd = "offsets reset"
	byTime := map[string]map[int]int64{}
	if !at.IsZero() {
		parts := map[string][]int{}
		for _, p := range st.Partitions {
			parts[p.Topic] = append(parts[p.Topic], p.Partition)
		}
		var err error
		if byTime, err = kafkautil.Offsets(ctx, client, parts, at.UnixMilli()); err != nil {
			return nil, fmt.Errorf("%s: offsets at %s: %w", cmd, c.ToTime, err)
		}
	}
	if len(offsets) > 0 {
		topics := map[string]bool{}
		for _, p := range st.Partitions {
			topics[p.Topic] = true
		}
		if len(topics) != 1 {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s: --to-offset needs a single topic: give --topic (the group has %d)", cmd, len(topics))}
		}
	}
	var moves []offsetMove
	seen := map[int]bool{}
	for _, p := range st.Partitions {
		m := offsetMove{Topic: p.Topic, Partition: p.Partition, Before: p.Committed}
		switch {
		case c.ToEarliest:
			m.After = p.Start
		case c.ToLatest:
			m.After = p.End
		case !at.IsZero():
			m.After = byTime[p.Topic][p.Partition]
			if m.After < 0 {
				m.After = p.End // nothing written at or after the time yet
			}
		default:
			o, ok := offsets[p.Partition]
			if !ok {
				continue
			}
			seen[p.Partition] = true
			if o < p.Start || o > p.End {
				return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s: --to-offset %d:%d: partition %d of %s holds offsets %d..%d",
					cmd, p.Partition, o, p.Partition, p.Topic, p.Start, p.End)}
			}
			m.After = o
		}
		moves = append(moves, m)
	}
	for p := range offsets {
		if !seen[p] {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s: --to-offset: the topic has no partition %d", cmd, p)}
		}
	}
	return moves, nil
}

// commitOffsets commits moves for group as a client outside it (generation -1), which Kafka
// accepts only while the group has no members; it then reads them back.
func commitOffsets(ctx context.Context, client *kafka.Client, group string, moves []offsetMove) error {
	req := &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{}}
	for _, m := range moves {
		req.Topics[m.Topic] = append(req.Topics[m.Topic], kafka.OffsetCommit{Partition: m.Partition, Offset: m.After})
	}
	res, err := client.OffsetCommit(ctx, req)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if err := kafkautil.CommitErrors(res); err != nil {
		return fmt.Errorf("%w (a member may have joined the group meanwhile: run status)", err)
	}
	got, err := fetchCommitted(ctx, client, group)
	if err != nil {
		return err
	}
	for _, m := range moves {
		if got[m.Topic][m.Partition] != m.After {
			return fmt.Errorf("%s/%d: committed %d, read back %d", m.Topic, m.Partition, m.After, got[m.Topic][m.Partition])
		}
	}
	return nil
}

func printMoves(w io.Writer, moves []offsetMove) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tBEFORE\tAFTER\tMOVE")
	for _, m := range moves {
		before, move := "-", "-"
		if m.Before >= 0 {
			before = fmt.Sprint(m.Before)
			move = fmt.Sprintf("%+d", m.After-m.Before)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\n", m.Topic, m.Partition, before, m.After, move)
	}
	tw.Flush()
}
