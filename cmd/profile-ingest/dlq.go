package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/config"
	"github.com/profile-ingest/profile-ingest/dlq"
	dlqtools "github.com/profile-ingest/profile-ingest/dlq/tools"
	"github.com/profile-ingest/profile-ingest/profile"
	"github.com/profile-ingest/profile-ingest/sender"
)

// dlqCmd is `profile-ingest dlq`: the tools an operator drains a dead-letter topic with. There
// is no `drain` verb: `replay` without filters is the drain, and it moves only its group's
// cursor; only `purge` deletes dead letters, a prefix of each partition.
type dlqCmd struct {
	Inspect dlqInspectCmd `cmd:"" help:"Print the dead letters on a dead-letter topic, one JSON object per line, or a summary table (--summary). Reads the topic from its start (or --since) to its end offsets at the moment it starts, without a consumer group; changes nothing."`
	Replay  dlqReplayCmd  `cmd:"" help:"Re-publish dead letters to their origin topic (or --to) with key and value unchanged and the replay count + 1; resumable through a consumer group (default <topic>.replay), safe to re-run, journalled in <topic>.replays. Without filters it drains the topic: the records stay on it, only the group's cursor moves. --dry-run first."`
	Purge   dlqPurgeCmd   `cmd:"" help:"Delete dead letters nobody will fix: those replayed (--replayed) and/or written before a time (--before), up to the first record not selected in each partition (Kafka's DeleteRecords). A dry run unless --execute; --export FILE keeps a copy first."`
}

// knownReasons are the reasons this version of the worker writes.
var knownReasons = []string{
	string(profile.ReasonInvalidJSON), string(profile.ReasonInvalidMessage), string(profile.ReasonInvalidOperation),
	string(profile.ReasonTooLarge), sender.ReasonRejected, sender.ReasonRetriesExhausted,
}

// legacyReasons were written by earlier versions only: invalid_options, before the workspace
// key was checked at start (profile.NewDecoder). A replay may still select such dead letters.
var legacyReasons = []string{"invalid_options"}

// kafkaFlags say which cluster, and how to connect to it.
type kafkaFlags struct {
	Config  string   `help:"YAML or JSON config file: its kafka section (brokers, topics, tls, sasl; the password from kafka.sasl.password_file or KAFKA_SASL_PASSWORD) is used." env:"PROFILE_INGEST_CONFIG" type:"existingfile"`
	Brokers []string `help:"Kafka bootstrap brokers, comma-separated (default: the config file's kafka.brokers, else 127.0.0.1:9092)." env:"KAFKA_BROKERS"`
}

// cluster loads the config file, applies --brokers, reads the SASL password and returns the
// config with the dialer and transport that carry its TLS and SASL settings.
func (f *kafkaFlags) cluster(cmd string) (config.Config, *kafka.Dialer, *kafka.Transport, error) {
	cfg, src, err := config.LoadFile(f.Config)
	if err != nil {
		return cfg, nil, nil, err
	}
	if len(f.Brokers) > 0 {
		cfg.Kafka.Brokers = f.Brokers
		src.Flags = map[string]string{"kafka.brokers": "--brokers"}
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return cfg, nil, nil, fmt.Errorf("%s: --brokers: name at least one broker", cmd)
	}
	if err := cfg.ReadSecrets(); err != nil {
		return cfg, nil, nil, err
	}
	if err := src.Locate(cfg.Kafka.ValidateConnection()); err != nil {
		return cfg, nil, nil, err
	}
	dialer, transport, err := kafkaDialer(cfg.Kafka)
	return cfg, dialer, transport, err
}

// dlqTopicFlags say which dead-letter topic, on which cluster.
type dlqTopicFlags struct {
	kafkaFlags `embed:""`
	Topic      string `help:"The dead-letter topic (default: the config file's dlq.topic, else its first topic + .dlq)."`
}

// dlqFilterFlags select dead letters.
type dlqFilterFlags struct {
	Reason      []string `help:"Only dead letters with this reason; repeat the flag or comma-separate for several (invalid_json, invalid_message, invalid_operation, too_large, invalid_options, rejected, retries_exhausted)."`
	Since       string   `help:"Only dead letters whose last failure is at or after this time: RFC 3339 (2026-01-02T15:04:05Z) or a duration ago (90m, 24h). Reading seeks there by record time instead of starting at the topic's start."`
	Until       string   `help:"Only dead letters whose last failure is before this time: RFC 3339 or a duration ago."`
	Key         []string `help:"Only dead letters of this record key (the distinct_id); repeat or comma-separate for several."`
	OriginTopic []string `name:"origin-topic" help:"Only dead letters consumed from this topic (profile-ingest-origin-topic); repeat or comma-separate."`
	ErrorText   string   `name:"error" help:"Only dead letters whose error text contains this, ignoring case (e.g. \"not a valid email\")."`
}

// open resolves the cluster and the topic and returns a scanner of it.
func (f *dlqTopicFlags) open(cmd string) (*dlqtools.Scanner, error) {
	cfg, dialer, transport, err := f.cluster(cmd)
	if err != nil {
		return nil, err
	}
	topic := cmp.Or(f.Topic, cfg.DLQTopic())
	if strings.TrimSpace(topic) == "" {
		return nil, fmt.Errorf("%s: --topic: name the dead-letter topic (or give --config with kafka.topics or dlq.topic)", cmd)
	}
	return dlqtools.NewScanner(cfg.Kafka.Brokers, topic, dlqtools.WithConnection(dialer, transport))
}

// filter parses the filter flags; strict refuses reasons this worker never writes (a typo in a
// replay would otherwise move the cursor past everything).
func (f *dlqFilterFlags) filter(cmd string, now time.Time, strict bool, warn io.Writer) (dlqtools.Filter, error) {
	var out dlqtools.Filter
	for _, r := range f.Reason {
		r = strings.TrimSpace(r)
		if r == "" {
			return out, fmt.Errorf("%s: --reason %q: a reason must not be empty", cmd, strings.Join(f.Reason, ","))
		}
		if !slices.Contains(knownReasons, r) && !slices.Contains(legacyReasons, r) {
			if strict {
				return out, fmt.Errorf("%s: --reason %q: not a reason profile-ingest writes (%s); `dlq inspect --summary` lists the reasons on the topic",
					cmd, r, strings.Join(knownReasons, ", "))
			}
			fmt.Fprintf(warn, "%s: note: --reason %q is not a reason profile-ingest writes (%s)\n", cmd, r, strings.Join(knownReasons, ", "))
		}
		out.Reasons = append(out.Reasons, r)
	}
	for flag, list := range map[string][]string{"key": f.Key, "origin-topic": f.OriginTopic} {
		for _, v := range list {
			if strings.TrimSpace(v) == "" {
				return out, fmt.Errorf("%s: --%s %q: must not be empty", cmd, flag, strings.Join(list, ","))
			}
		}
	}
	out.Keys, out.OriginTopics, out.ErrorContains = f.Key, f.OriginTopic, f.ErrorText
	var err error
	if out.Since, err = parseWhen(cmd, "since", f.Since, now); err != nil {
		return out, err
	}
	if out.Until, err = parseWhen(cmd, "until", f.Until, now); err != nil {
		return out, err
	}
	if !out.Since.IsZero() && !out.Until.IsZero() && !out.Since.Before(out.Until) {
		return out, fmt.Errorf("%s: --since %s must be before --until %s", cmd, f.Since, f.Until)
	}
	return out, nil
}

// parseWhen reads an RFC 3339 time or a positive duration before now; "" is no bound.
func parseWhen(cmd, flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%s: --%s %q: use an RFC 3339 time (2026-01-02T15:04:05Z) or a positive duration ago (90m, 24h)", cmd, flag, v)
}

// dlqInspectCmd is `profile-ingest dlq inspect`.
type dlqInspectCmd struct {
	dlqTopicFlags  `embed:""`
	dlqFilterFlags `embed:""`
	Partition      []int `help:"Only this partition of the dead-letter topic; repeat for several."`
	Limit          int   `help:"Stop after this many dead letters (0: no limit)."`
	Summary        bool  `help:"Print a table instead of JSON lines: counts by reason and status, the oldest and newest failure, the top origin topics, keys and errors (quoted values elided), replay counts."`
	JSON           bool  `name:"json" help:"With --summary: print the summary as one JSON object."`
	ShowValue      bool  `name:"show-value" help:"Add each record's value to its JSON line as a string (bytes that are not UTF-8 print as U+FFFD). Values are user data: mind where the output goes."`
}

func (c *dlqInspectCmd) Run() error {
	ctx, stop := signalContext()
	defer stop()
	return c.run(ctx, os.Stdout, os.Stderr, time.Now())
}

func (c *dlqInspectCmd) run(ctx context.Context, stdout, stderr io.Writer, now time.Time) error {
	const cmd = "dlq inspect"
	if c.Limit < 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: --limit %d must not be negative", cmd, c.Limit)}
	}
	for _, p := range c.Partition {
		if p < 0 {
			return &exitError{code: exitUsage, err: fmt.Errorf("%s: --partition %d must not be negative", cmd, p)}
		}
	}
	f, err := c.filter(cmd, now, false, stderr)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	f.Partitions = c.Partition
	s, err := c.open(cmd)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	var sum dlqtools.Summary
	if c.Summary {
		if sum.Journal, err = s.ReadJournal(ctx); err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
	}
	each := func(e dlqtools.Entry) error {
		if c.Summary {
			sum.Add(e)
			return nil
		}
		b, err := e.MarshalLine(c.ShowValue)
		if err != nil {
			return err
		}
		out.Write(b)
		return out.WriteByte('\n')
	}
	p := newProgress(stderr, cmd)
	st, err := s.Inspect(ctx, f, c.Limit, each, func(st dlqtools.ScanStats) {
		p.maybe(func() string { return fmt.Sprintf("read %d of %d records, %d match", st.Read, st.Total, st.Matched) })
	})
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if st.Read > 0 && st.NotDeadLetters == st.Read {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: %s holds no dead letters: none of the %d records read carries profile-ingest's dead-letter headers (%s); is --topic the dead-letter topic? (the worker's is dlq.topic, default <first topic>.dlq)",
			cmd, s.Topic(), st.Read, dlq.HeaderReason)}
	}
	switch {
	case c.Summary && c.JSON:
		if err := writeSummaryJSON(out, s.Topic(), &sum, st); err != nil {
			return err
		}
	case c.Summary:
		writeSummary(out, s.Topic(), &sum, st)
	}
	if st.NotDeadLetters > 0 {
		fmt.Fprintf(stderr, "%s: note: %d of the %d records read carry no dead-letter headers (%s) and are not counted as dead letters (inspect marks them \"foreign\":true): they were not written by profile-ingest's dead-letter writer\n",
			cmd, st.NotDeadLetters, st.Read, dlq.HeaderReason)
	}
	return out.Flush()
}

// topN is how many origin topics, keys and errors the summary lists by name.
const topN = 10

// writeTop prints the topN largest counts of m under title, and the rest in one line.
func writeTop(w io.Writer, title, plural string, m map[string]int) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tCOUNT\n", title)
	top := byCount(m, cmp.Compare[string])
	for i, kv := range top {
		if i == topN {
			rest := 0
			for _, r := range top[i:] {
				rest += r.n
			}
			fmt.Fprintf(tw, "(%d more %s)\t%d\n", len(top)-i, plural, rest)
			break
		}
		fmt.Fprintf(tw, "%s\t%d\n", orNone(kv.k), kv.n)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// summaryJSON is inspect --summary --json.
type summaryJSON struct {
	Topic          string         `json:"topic"`
	Read           int64          `json:"read"`
	NotDeadLetters int64          `json:"not_dead_letters"`
	Total          int            `json:"dead_letters"`
	OldestFailure  string         `json:"oldest_failure"`
	NewestFailure  string         `json:"newest_failure"`
	ByReason       []reasonCount  `json:"by_reason"`
	TopOrigins     []nameCount    `json:"top_origin_topics"`
	TopKeys        []nameCount    `json:"top_keys"`
	TopErrors      []nameCount    `json:"top_errors"`
	ByReplayCount  map[string]int `json:"by_replay_count"`
	// Replayed counts the dead letters the replay journal (<topic>.replays) names as published
	// by `dlq replay`; NeverReplayed the others: what is outstanding.
	Replayed      int              `json:"replayed"`
	NeverReplayed int              `json:"never_replayed"`
	ReplayedTo    []replayedToJSON `json:"replayed_to"`
}

type replayedToJSON struct {
	Topic      string `json:"topic"`
	Count      int    `json:"count"`
	LastReplay string `json:"last_replay"`
}

type reasonCount struct {
	Reason        string `json:"reason"`
	Status        int    `json:"status"`
	Count         int    `json:"count"`
	NeverReplayed int    `json:"never_replayed"`
}

type nameCount struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func writeSummaryJSON(w io.Writer, topic string, s *dlqtools.Summary, st dlqtools.ScanStats) error {
	top := func(m map[string]int) []nameCount {
		out := []nameCount{}
		for i, kv := range byCount(m, cmp.Compare[string]) {
			if i == topN {
				break
			}
			out = append(out, nameCount{kv.k, kv.n})
		}
		return out
	}
	j := summaryJSON{Topic: topic, Read: st.Read, NotDeadLetters: st.NotDeadLetters, Total: s.Total,
		OldestFailure: dlq.FormatTime(s.OldestFailure), NewestFailure: dlq.FormatTime(s.NewestFailure),
		ByReason: []reasonCount{}, TopOrigins: top(s.ByOrigin), TopKeys: top(s.ByKey), TopErrors: top(s.ByError),
		ByReplayCount: map[string]int{}, Replayed: s.Replayed, NeverReplayed: s.NeverReplayed(), ReplayedTo: []replayedToJSON{}}
	for _, r := range s.Destinations() {
		j.ReplayedTo = append(j.ReplayedTo, replayedToJSON{r.Topic, r.Count, dlq.FormatTime(r.Last)})
	}
	for _, kv := range byCount(s.ByReason, func(a, b dlqtools.ReasonStatus) int {
		return cmp.Or(cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Status, b.Status))
	}) {
		j.ByReason = append(j.ByReason, reasonCount{kv.k.Reason, kv.k.Status, kv.n, s.NeverReplayedBy[kv.k]})
	}
	for n, c := range s.ByReplayCount {
		j.ByReplayCount[fmt.Sprint(n)] = c
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(j)
}

// writeSummary prints the --summary tables.
func writeSummary(w io.Writer, topic string, s *dlqtools.Summary, st dlqtools.ScanStats) {
	fmt.Fprintf(w, "%s: %d dead letters match (of %d read)\n", topic, s.Total, st.Read)
	if s.Total == 0 {
		return
	}
	fmt.Fprintf(w, "oldest failure %s, newest %s\n", fmtTime(s.OldestFailure), fmtTime(s.NewestFailure))
	fmt.Fprintf(w, "never replayed %d, replayed by dlq replay %d (per the replay journal %s)\n\n", s.NeverReplayed(), s.Replayed, dlqtools.JournalTopic(topic))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if s.Replayed > 0 {
		fmt.Fprintln(tw, "REPLAYED TO\tCOUNT\tLAST REPLAY")
		for _, r := range s.Destinations() {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", orNone(r.Topic), r.Count, fmtTime(r.Last))
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	fmt.Fprintln(tw, "REASON\tSTATUS\tCOUNT\tNEVER REPLAYED")
	for _, kv := range byCount(s.ByReason, func(a, b dlqtools.ReasonStatus) int {
		return cmp.Or(cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Status, b.Status))
	}) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", orNone(kv.k.Reason), kv.k.Status, kv.n, s.NeverReplayedBy[kv.k])
	}
	tw.Flush()
	fmt.Fprintln(w)
	writeTop(w, "ORIGIN TOPIC", "topics", s.ByOrigin)
	writeTop(w, "KEY (DISTINCT_ID)", "keys", s.ByKey)
	writeTop(w, "ERROR (QUOTED VALUES ELIDED)", "errors", s.ByError)
	fmt.Fprintln(tw, "REPLAYED BEFORE\tCOUNT")
	for _, kv := range byCount(s.ByReplayCount, cmp.Compare[int]) {
		fmt.Fprintf(tw, "%d times\t%d\n", kv.k, kv.n)
	}
	tw.Flush()
}

// dlqReplayCmd is `profile-ingest dlq replay`.
type dlqReplayCmd struct {
	dlqTopicFlags  `embed:""`
	dlqFilterFlags `embed:""`
	To             string `help:"Publish every replayed record to this topic instead of its origin topic (its profile-ingest-origin-topic header)."`
	MaxReplays     int    `name:"max-replays" default:"3" help:"Loop guard: dead letters already replayed this many times are not replayed again, and are reported."`
	DryRun         bool   `name:"dry-run" help:"Read from the group's position and print what would be replayed and skipped; publish nothing, commit nothing."`
	Group          string `help:"Consumer group that keeps this replay's position on the dead-letter topic (default: <topic>.replay). Records an earlier run skipped lie behind its cursor: replay them with a new group."`
	BatchSize      int    `name:"batch-size" default:"500" help:"Records read between two commits: the most a replay that dies publishes twice."`
	JSON           bool   `name:"json" help:"Print the replay report (and, with --dry-run, the dry run's) as one JSON object instead of tables."`
	Status         bool   `help:"Replay nothing: print where the group's cursor stands on each partition and, by reason, how many dead letters lie behind it (replayed or skipped by earlier runs of this group) and ahead of it. Rewind it with 'offsets reset --group G --topic <dlq topic> --to-time T|--to-earliest --execute'."`
	Yes            bool   `help:"Replay without asking, even without --reason or with a reason whose records cannot succeed unchanged (invalid_json, invalid_message, invalid_operation, too_large)."`
}

// unfixableReasons are the reasons whose records fail again, unchanged, when replayed: the
// message itself is wrong. (invalid_options is a configuration fault: fix it, then replay.)
var unfixableReasons = []string{
	string(profile.ReasonInvalidJSON), string(profile.ReasonInvalidMessage), string(profile.ReasonInvalidOperation), string(profile.ReasonTooLarge),
}

// Help is the long help of `dlq replay --help`.
func (c *dlqReplayCmd) Help() string {
	return `A replay reads the dead-letter topic from where its consumer group (--group, default
<topic>.replay) stands to the end offsets seen when it starts, then exits. Every record is
either published or deliberately skipped, and the group's offset moves past it only after that:

  - published: it matches the filters and its replay count is below --max-replays; it goes to
    its origin topic (or --to), partitioned by key as Java clients do, with key and value
    unchanged, the original headers kept and profile-ingest-replay-count set to count + 1;
  - skipped by filter: it does not match --reason/--since/--until. The cursor moves past it:
    a later run with the same group will not see it. Use a new --group to replay it later;
  - skipped by replay limit (the loop guard): it was replayed --max-replays times already;
  - superseded: a later copy of the same original record is on the topic (a dead letter of a
    replay of it, with a higher replay count; every copy carries profile-ingest-original). Only
    the newest copy of each record is replayed, so replays with fresh groups do not multiply
    copies. The whole topic is read once first to find the newest copies.

A replay never deletes or changes a record on the dead-letter topic, so 'dlq inspect' still
shows everything. Each batch it publishes is recorded in the replay journal <topic>.replays
(created by the first replay) after the publish and before the commit: 'dlq inspect --summary'
and '--status' count replayed records apart from those never replayed, and 'dlq purge
--replayed' deletes them. A replay that dies publishes at most one batch (--batch-size) again when re-run;
a second run continues where the first stopped. A replay is the one member of its group while
it runs: a second replay with the same group, or a group a consumer uses, is refused (exit 1);
so is a second replay into a topic another replay publishes to, whatever its group (each replay
holds the consumer group profile-ingest.replay-lock.<topic> of every topic it publishes to).
There is no separate 'drain': a replay without filters is the drain.

Without --reason, or with a reason whose records cannot succeed unchanged (invalid_json,
invalid_message, invalid_operation, too_large), a replay first prints the dry run's numbers and
which records will only be dead-lettered again, then asks for confirmation on stdin; --yes
skips the question. Not confirmed (or stdin is not a terminal and gives no "y"): nothing is
published, exit 2.

Interrupted (Ctrl-C, SIGTERM), it stops after the batch in hand, commits what it published and
says "interrupted: N published, M committed; run the same command to resume", exit 130.`
}

func (c *dlqReplayCmd) Run() error {
	ctx, stop := signalContext()
	defer stop()
	return c.run(ctx, os.Stdin, os.Stdout, os.Stderr, time.Now())
}

// needsConfirmation: no --reason (everything, the unfixable included), or an unfixable one.
func (c *dlqReplayCmd) needsConfirmation() bool {
	if len(c.Reason) == 0 {
		return true
	}
	for _, r := range c.Reason {
		if slices.Contains(unfixableReasons, strings.TrimSpace(r)) {
			return true
		}
	}
	return false
}

// confirm runs the replay dry, prints its numbers and what will only be dead-lettered again,
// and asks on stdin. Anything but "y" or "yes" refuses, exit 2, with nothing published.
func (c *dlqReplayCmd) confirm(ctx context.Context, s *dlqtools.Scanner, rc dlqtools.ReplayConfig, f dlqtools.Filter, stdin io.Reader, stdout, stderr io.Writer) error {
	const cmd = "dlq replay"
	dry := rc
	dry.DryRun = true
	r, err := dlqtools.NewReplayer(s, dry)
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", cmd, err)}
	}
	defer r.Close()
	rep, err := r.Run(ctx, f)
	if err != nil {
		return fmt.Errorf("%s: dry run before asking: %w", cmd, err)
	}
	writeReplayReport(stdout, s.Topic(), dry, rep)
	if rep.Replayed == 0 {
		return nil // nothing would be published: nothing to confirm
	}
	var again []string
	var n int
	for _, reason := range unfixableReasons {
		if c, ok := rep.ByReason[reason]; ok && c.Replayed > 0 {
			again = append(again, fmt.Sprintf("%s %d", reason, c.Replayed))
			n += c.Replayed
		}
	}
	if n > 0 {
		fmt.Fprintf(stdout, "%d of them will only be dead-lettered again: their message is wrong and is replayed unchanged (%s); --reason rejected,retries_exhausted leaves them out\n",
			n, strings.Join(again, ", "))
	}
	fmt.Fprintf(stderr, "%s: publish these %d records to their topics? [y/N] ", cmd, rep.Replayed)
	answer, _ := bufio.NewReader(stdin).ReadString('\n')
	fmt.Fprintln(stderr)
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("%s: not confirmed: nothing published, nothing committed (--yes replays without asking)", cmd)}
}

func (c *dlqReplayCmd) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, now time.Time) error {
	const cmd = "dlq replay"
	switch {
	case c.MaxReplays < 1:
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: --max-replays %d must be at least 1", cmd, c.MaxReplays)}
	case c.BatchSize < 1:
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: --batch-size %d must be positive", cmd, c.BatchSize)}
	}
	f, err := c.filter(cmd, now, true, stderr)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	s, err := c.open(cmd)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if c.To == s.Topic() {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: --to %s is the dead-letter topic itself", cmd, c.To)}
	}
	rc := dlqtools.DefaultReplay(cmp.Or(c.Group, s.Topic()+".replay"))
	rc.To, rc.MaxReplays, rc.DryRun, rc.BatchRecords = c.To, c.MaxReplays, c.DryRun, c.BatchSize
	if c.Status {
		return c.status(ctx, s, rc.Group, stdout)
	}
	if !c.DryRun && !c.Yes && c.needsConfirmation() {
		if err := c.confirm(ctx, s, rc, f, stdin, stdout, stderr); err != nil {
			return err
		}
	}
	p := newProgress(stderr, cmd)
	r, err := dlqtools.NewReplayer(s, rc, dlqtools.WithProgress(func(pr dlqtools.Progress) {
		p.maybe(func() string {
			return fmt.Sprintf("read %d of %d records: replayed %d, skipped %d by filter, %d by replay limit",
				pr.Read, pr.Total, pr.Replayed, pr.SkippedFilter, pr.SkippedLimit)
		})
	}))
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", cmd, err)}
	}
	defer r.Close()
	rep, err := r.Run(ctx, f)
	settled := rep.Replayed + rep.SkippedFilter + rep.SkippedLimit + rep.SkippedSuperseded
	if err == nil || settled > 0 {
		if c.JSON {
			if jerr := writeReplayReportJSON(stdout, s.Topic(), rc, rep); jerr != nil {
				return jerr
			}
		} else {
			writeReplayReport(stdout, s.Topic(), rc, rep) // what was done before a failure, too
		}
	}
	if err != nil && ctx.Err() != nil {
		return &exitError{code: exitInterrupted, err: fmt.Errorf("%s: interrupted: %d published, %d committed; run the same command to resume",
			cmd, rep.Replayed, settled)}
	}
	if errors.Is(err, dlqtools.ErrMissingDestination) {
		err = fmt.Errorf("%w; create the topic, or pass --to TOPIC", err)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if len(rep.Missing) > 0 {
		var names []string
		for t, n := range rep.Missing {
			names = append(names, fmt.Sprintf("%s (%d records)", cmp.Or(t, "no origin-topic header"), n))
		}
		slices.Sort(names)
		return fmt.Errorf("%s: dry run: the replay would stop at records whose destination topic does not exist: %s; create the topic, or pass --to TOPIC",
			cmd, strings.Join(names, ", "))
	}
	return nil
}

// status prints the replay group's cursor on the dead-letter topic and what lies behind and
// ahead of it, by reason.
func (c *dlqReplayCmd) status(ctx context.Context, s *dlqtools.Scanner, group string, w io.Writer) error {
	const cmd = "dlq replay --status"
	cfg, _, transport, err := c.cluster(cmd)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	client := &kafka.Client{Addr: kafka.TCP(cfg.Kafka.Brokers...), Timeout: 30 * time.Second, Transport: transport}
	st, err := describeGroup(ctx, client, group, []string{s.Topic()}, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	position := map[int]int64{}
	for _, p := range st.Partitions {
		position[p.Partition] = max(p.Committed, p.Start)
	}
	journal, err := s.ReadJournal(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	type split struct{ behind, ahead, replayed int }
	byReason := map[string]*split{}
	var sum dlqtools.Summary
	sum.Journal = journal
	if _, err := s.Inspect(ctx, dlqtools.Filter{}, 0, func(e dlqtools.Entry) error {
		sum.Add(e)
		reason := orNone(e.Reason)
		if e.Foreign {
			reason = "(not a dead letter)"
		}
		if byReason[reason] == nil {
			byReason[reason] = &split{}
		}
		if _, ok := journal.Lookup(e.Partition, e.Offset); ok {
			byReason[reason].replayed++
		}
		if e.Offset < position[e.Partition] {
			byReason[reason].behind++
		} else {
			byReason[reason].ahead++
		}
		return nil
	}, nil); err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	fmt.Fprintf(w, "replay group %s on %s: %s, %d members\n", group, s.Topic(), cmp.Or(st.State, "unknown"), len(st.Members))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tPOSITION\tEND\tBEHIND THE CURSOR\tAHEAD")
	for _, p := range st.Partitions {
		pos := "- (no commit: the log start)"
		if p.Committed >= 0 {
			pos = fmt.Sprint(p.Committed)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\n", p.Partition, pos, p.End, position[p.Partition]-p.Start, p.Lag)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "REASON\tBEHIND THE CURSOR\tAHEAD\tREPLAYED (ANY GROUP, PER THE JOURNAL)")
	reasons := make([]string, 0, len(byReason))
	for r := range byReason {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", r, byReason[r].behind, byReason[r].ahead, byReason[r].replayed)
	}
	tw.Flush()
	fmt.Fprintf(w, "replay journal %s: %d dead letters replayed, %d never replayed", dlqtools.JournalTopic(s.Topic()), sum.Replayed, sum.NeverReplayed())
	for i, r := range sum.Destinations() {
		sep := "; "
		if i > 0 {
			sep = ", "
		}
		fmt.Fprintf(w, "%s%d to %s (last %s)", sep, r.Count, r.Topic, fmtTime(r.Last))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "behind the cursor: replayed or skipped by earlier runs of this group (the next run does not see them); ahead: the next run reads them; replayed: published by some replay, per the journal.\n"+
		"rewind: profile-ingest offsets reset --group %s --topic %s --to-time 2026-01-02T15:04:05Z|--to-earliest --execute\n", group, s.Topic())
	return nil
}

// countsJSON is one row of the replay report in JSON.
type countsJSON struct {
	Replayed          int `json:"replayed"`
	SkippedFilter     int `json:"skipped_filter"`
	SkippedLimit      int `json:"skipped_limit"`
	SkippedSuperseded int `json:"superseded"`
}

func toCountsJSON(c dlqtools.Counts) countsJSON {
	return countsJSON{c.Replayed, c.SkippedFilter, c.SkippedLimit, c.SkippedSuperseded}
}

// writeReplayReportJSON prints rep as one JSON object: the totals, by reason, by reason and
// status, by destination, the loop-guarded records named, where each partition began and ended.
func writeReplayReportJSON(w io.Writer, topic string, rc dlqtools.ReplayConfig, rep *dlqtools.ReplayReport) error {
	type statusRow struct {
		Reason string `json:"reason"`
		Status int    `json:"status"`
		countsJSON
	}
	type guarded struct {
		Partition   int    `json:"partition"`
		Offset      int64  `json:"offset"`
		Key         string `json:"key"`
		Reason      string `json:"reason"`
		ReplayCount int    `json:"replay_count"`
	}
	j := struct {
		Topic         string                `json:"topic"`
		Group         string                `json:"group"`
		DryRun        bool                  `json:"dry_run"`
		Totals        countsJSON            `json:"totals"`
		UnreadBefore  int64                 `json:"unread_before_since"`
		ByReason      map[string]countsJSON `json:"by_reason"`
		ByStatus      []statusRow           `json:"by_reason_status"`
		ByDestination map[string]int        `json:"by_destination"`
		Missing       map[string]int        `json:"missing_destinations,omitempty"`
		Guarded       []guarded             `json:"loop_guarded"`
		Start         map[int]int64         `json:"start"` // per partition: where the replay began
		End           map[int]int64         `json:"end"`   // and the end offset it read to
	}{Topic: topic, Group: rc.Group, DryRun: rc.DryRun, Totals: toCountsJSON(rep.Counts), UnreadBefore: rep.Unread,
		ByReason: map[string]countsJSON{}, ByStatus: []statusRow{}, ByDestination: map[string]int{}, Missing: rep.Missing,
		Guarded: []guarded{}, Start: rep.Start, End: rep.End}
	for k, c := range rep.ByReason {
		j.ByReason[k] = toCountsJSON(*c)
	}
	for k, c := range rep.ByStatus {
		j.ByStatus = append(j.ByStatus, statusRow{k.Reason, k.Status, toCountsJSON(*c)})
	}
	slices.SortFunc(j.ByStatus, func(a, b statusRow) int {
		return cmp.Or(cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Status, b.Status))
	})
	for k, c := range rep.ByDestination {
		j.ByDestination[k] = c.Replayed
	}
	for _, e := range rep.Guarded {
		j.Guarded = append(j.Guarded, guarded{e.Partition, e.Offset, string(e.Key), e.Reason, e.ReplayCount})
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(j)
}

// writeReplayReport prints the histogram, the loop-guarded records and the final summary line.
func writeReplayReport(w io.Writer, topic string, rc dlqtools.ReplayConfig, rep *dlqtools.ReplayReport) {
	mode := ""
	if rc.DryRun {
		mode = " (dry run: nothing published, nothing committed)"
	}
	fmt.Fprintf(w, "replay of %s by group %s%s\n", topic, rc.Group, mode)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REASON\tSTATUS\tREPLAYED\tSKIPPED BY FILTER\tSKIPPED BY REPLAY LIMIT\tSUPERSEDED BY A LATER COPY")
	rows := make([]dlqtools.ReasonStatus, 0, len(rep.ByStatus))
	for k := range rep.ByStatus {
		rows = append(rows, k)
	}
	slices.SortFunc(rows, func(a, b dlqtools.ReasonStatus) int {
		return cmp.Or(cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Status, b.Status))
	})
	for _, k := range rows {
		c := rep.ByStatus[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", orNone(k.Reason), k.Status, c.Replayed, c.SkippedFilter, c.SkippedLimit, c.SkippedSuperseded)
	}
	if rep.Unread > 0 {
		fmt.Fprintf(tw, "(before --since, unread)\t\t0\t%d\t0\t0\n", rep.Unread)
	}
	tw.Flush()
	if len(rep.ByDestination) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "DESTINATION TOPIC\tREPLAYED")
		for _, kv := range byCount(rep.ByDestination, cmp.Compare[string]) {
			fmt.Fprintf(tw, "%s\t%d\n", orNone(kv.k), kv.n)
		}
		tw.Flush()
	}
	for _, e := range rep.Guarded {
		fmt.Fprintf(w, "loop guard: %s/%d offset %d (key %q, reason %s) was replayed %d times already; not replayed\n",
			topic, e.Partition, e.Offset, e.Key, orNone(e.Reason), e.ReplayCount)
	}
	if more := rep.SkippedLimit - len(rep.Guarded); more > 0 {
		fmt.Fprintf(w, "loop guard: %d more not replayed\n", more)
	}
	verb := "replayed"
	if rc.DryRun {
		verb = "dry run: would replay"
	}
	perReason := func(get func(*dlqtools.Counts) int, unread int64) string {
		var parts []string
		for _, kv := range byCount(rep.ByReason, cmp.Compare[string]) {
			if n := get(rep.ByReason[kv.k]); n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", orNone(kv.k), n))
			}
		}
		if unread > 0 {
			parts = append(parts, fmt.Sprintf("before --since, unread %d", unread))
		}
		if len(parts) == 0 {
			return ""
		}
		return " (" + strings.Join(parts, ", ") + ")"
	}
	fmt.Fprintf(w, "%s %d%s, skipped by filter %d%s, skipped by replay limit %d%s\n",
		verb, rep.Replayed, perReason(func(c *dlqtools.Counts) int { return c.Replayed }, 0),
		rep.SkippedFilter, perReason(func(c *dlqtools.Counts) int { return c.SkippedFilter }, rep.Unread),
		rep.SkippedLimit, perReason(func(c *dlqtools.Counts) int { return c.SkippedLimit }, 0))
	if rep.SkippedSuperseded > 0 {
		fmt.Fprintf(w, "superseded by a later copy of the same record %d%s: only the newest dead letter of each original record is replayed\n",
			rep.SkippedSuperseded, perReason(func(c *dlqtools.Counts) int { return c.SkippedSuperseded }, 0))
	}
}

type kv[K comparable] struct {
	k K
	n int
}

// byCount orders m by count, largest first, then by key. Values are ints or *dlqtools.Counts (by
// Replayed).
func byCount[K comparable, V int | *dlqtools.Counts](m map[K]V, byKey func(a, b K) int) []kv[K] {
	out := make([]kv[K], 0, len(m))
	for k, v := range m {
		var n int
		switch v := any(v).(type) {
		case int:
			n = v
		case *dlqtools.Counts:
			n = v.Replayed + v.SkippedFilter + v.SkippedLimit + v.SkippedSuperseded
		}
		out = append(out, kv[K]{k, n})
	}
	slices.SortFunc(out, func(a, b kv[K]) int { return cmp.Or(cmp.Compare(b.n, a.n), byKey(a.k, b.k)) })
	return out
}

func orNone(s string) string { return cmp.Or(s, "(none)") }

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// progress prints a line on stderr at most every few seconds, so a long read shows life and a
// short one prints nothing.
type progress struct {
	w     io.Writer
	cmd   string
	every time.Duration
	last  time.Time
}

func newProgress(w io.Writer, cmd string) *progress {
	return &progress{w: w, cmd: cmd, every: 2 * time.Second, last: time.Now()}
}

func (p *progress) maybe(line func() string) {
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		fmt.Fprintf(p.w, "%s: %s\n", p.cmd, line())
	}
}
