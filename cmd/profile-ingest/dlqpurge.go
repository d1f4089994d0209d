package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/profile-ingest/profile-ingest/dlq"
	dlqtools "github.com/profile-ingest/profile-ingest/dlq/tools"
)

// dlqPurgeCmd is `profile-ingest dlq purge`.
type dlqPurgeCmd struct {
	dlqTopicFlags `embed:""`
	Before        string `help:"Select dead letters written to the topic (their Kafka timestamp) before this time: RFC 3339 (2026-01-02T15:04:05Z) or a duration ago (72h)."`
	Replayed      bool   `help:"Select dead letters the replay journal (<topic>.replays) names as replayed by 'dlq replay', and those superseded by a later dead letter of the same original record. With --before: records that are both."`
	Execute       bool   `help:"Delete. Without it, a dry run: print what would be deleted, delete nothing."`
	Yes           bool   `help:"With --execute: delete without asking."`
	Export        string `help:"Before deleting, write every record to be deleted to this file, one JSON object per line (partition, offset, timestamp, key, value, headers); created with mode 0600 (values are user data). Nothing is deleted unless the whole export was written. With a dry run it writes what would be deleted."`
	JSON          bool   `name:"json" help:"Print the report as one JSON object instead of a table."`
}

// Help is the long help of `dlq purge --help`.
func (c *dlqPurgeCmd) Help() string {
	return `Kafka deletes only a prefix of a partition (DeleteRecords: the log start offset moves up to an
offset). A purge reads the whole dead-letter topic and its replay journal, selects records
(--before, --replayed, or both), and per partition deletes up to the first record it does not
select: selected records after that one stay, and the report counts them ("selected, kept").

Without --execute it is a dry run: per partition the log start offset now, the offset it would
delete up to, the records it would delete by why they are selected (replayed, superseded,
older), and the selected records kept. --execute asks for confirmation (--yes does not ask), then
deletes and prints each partition's new log start offset or its error (exit 1 if any failed).
--export FILE writes the records first; a failed export deletes nothing.

Interrupted (Ctrl-C, SIGTERM) before it deletes, it deletes nothing, exit 130; the deletion
itself is one request per partition leader and is not interrupted.

A purge is refused (exit 1) while a replay of the topic runs (it holds the lock group
profile-ingest.replay-lock.<topic> of each topic it publishes to), naming it.`
}

func (c *dlqPurgeCmd) Run() error {
	ctx, stop := signalContext()
	defer stop()
	return c.run(ctx, os.Stdin, os.Stdout, os.Stderr, time.Now())
}

func (c *dlqPurgeCmd) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, now time.Time) error {
	const cmd = "dlq purge"
	var sel dlqtools.PurgeSelection
	var err error
	if sel.Before, err = parseWhen(cmd, "before", c.Before, now); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	sel.Replayed = c.Replayed
	if sel.Validate() != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: --before, --replayed: select what to delete with one of them, or both", cmd)}
	}
	if c.Yes && !c.Execute {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: --yes without --execute: a dry run asks nothing", cmd)}
	}
	s, err := c.open(cmd)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	var export *os.File
	if c.Export != "" {
		if export, err = createPrivate(c.Export); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("%s: --export: %w; nothing deleted", cmd, err)}
		}
		defer export.Close()
	}
	if err := s.CheckNoReplay(ctx); err != nil {
		return err
	}
	interrupted := func(err error) error {
		if ctx.Err() != nil {
			return &exitError{code: exitInterrupted, err: fmt.Errorf("%s: interrupted before deleting: nothing deleted; run the same command again", cmd)}
		}
		return err
	}
	plan, err := s.PlanPurge(ctx, sel)
	if err != nil {
		return interrupted(fmt.Errorf("%s: %w", cmd, err))
	}
	exported := -1
	if export != nil {
		w := bufio.NewWriter(export)
		n, err := s.ExportPurge(ctx, plan, w)
		if err == nil {
			err = w.Flush()
		}
		if err == nil {
			err = export.Sync()
		}
		if cerr := export.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return interrupted(fmt.Errorf("%s: --export %s: %w; nothing deleted", cmd, c.Export, err))
		}
		exported = n
	}
	switch {
	case !c.Execute:
		return c.report(stdout, plan, " (dry run: nothing deleted; --execute deletes)", exported)
	case plan.Deletes() == 0:
		return c.report(stdout, plan, " (nothing selected to delete)", exported)
	}
	if !c.Yes {
		if !c.JSON { // one JSON object on stdout: the outcome
			c.report(stdout, plan, " (to delete once confirmed)", exported)
		}
		fmt.Fprintf(stderr, "%s: delete these %d records from %s for good? [y/N] ", cmd, plan.Deletes(), plan.Topic)
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		fmt.Fprintln(stderr)
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return &exitError{code: exitUsage, err: fmt.Errorf("%s: not confirmed: nothing deleted (--yes deletes without asking)", cmd)}
		}
	}
	if err := s.CheckNoReplay(ctx); err != nil { // a replay may have started while we read
		return interrupted(err)
	}
	xerr := s.ExecutePurge(context.WithoutCancel(ctx), plan)
	if err := c.report(stdout, plan, "", exported); err != nil {
		return err
	}
	if xerr != nil {
		return fmt.Errorf("%s: %w", cmd, xerr)
	}
	return nil
}

// createPrivate creates (or truncates) name for writing, readable by its owner only.
func createPrivate(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil { // an existing file keeps its mode otherwise
		f.Close()
		return nil, err
	}
	return f, nil
}

// purgeJSON is `dlq purge --json`.
type purgeJSON struct {
	Topic          string               `json:"topic"`
	DryRun         bool                 `json:"dry_run"`
	Before         string               `json:"before,omitempty"`
	Replayed       bool                 `json:"replayed"`
	JournalRecords int                  `json:"journal_records"`
	Partitions     []purgePartitionJSON `json:"partitions"`
	Deletes        int                  `json:"deletes"`
	SelectedKept   int                  `json:"selected_kept"`
	Exported       *int                 `json:"exported,omitempty"`
}

type purgePartitionJSON struct {
	Partition    int            `json:"partition"`
	LowWatermark int64          `json:"low_watermark"`
	End          int64          `json:"end"`
	DeleteBefore int64          `json:"delete_before"`
	Deletes      int            `json:"deletes"`
	ByReason     map[string]int `json:"by_reason"`
	SelectedKept int            `json:"selected_kept"`
	NewLow       *int64         `json:"new_low_watermark,omitempty"`
	Error        string         `json:"error,omitempty"`
}

// report prints the plan, and after an execution (mode "") each partition's outcome.
func (c *dlqPurgeCmd) report(w io.Writer, plan *dlqtools.PurgePlan, mode string, exported int) error {
	executed := mode == ""
	kept := 0
	for _, pp := range plan.Partitions {
		kept += pp.Blocked
	}
	if c.JSON {
		j := purgeJSON{Topic: plan.Topic, DryRun: !executed, Replayed: plan.Selection.Replayed, JournalRecords: plan.Journal,
			Partitions: []purgePartitionJSON{}, Deletes: plan.Deletes(), SelectedKept: kept}
		if !plan.Selection.Before.IsZero() {
			j.Before = dlq.FormatTime(plan.Selection.Before)
		}
		if exported >= 0 {
			j.Exported = &exported
		}
		for _, pp := range plan.Partitions {
			pj := purgePartitionJSON{Partition: pp.Partition, LowWatermark: pp.Low, End: pp.End, DeleteBefore: pp.DeleteBefore,
				Deletes: pp.Deletes(), ByReason: pp.Deleted, SelectedKept: pp.Blocked}
			if executed && pp.DeleteBefore > pp.Low {
				if pp.Err != nil {
					pj.Error = pp.Err.Error()
				} else {
					pj.NewLow = &pp.NewLow
				}
			}
			j.Partitions = append(j.Partitions, pj)
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return enc.Encode(j)
	}
	var what []string
	if !plan.Selection.Before.IsZero() {
		what = append(what, "written before "+fmtTime(plan.Selection.Before))
	}
	if plan.Selection.Replayed {
		what = append(what, fmt.Sprintf("replayed or superseded (per the replay journal %s, %d batches)", dlqtools.JournalTopic(plan.Topic), plan.Journal))
	}
	fmt.Fprintf(w, "purge of %s, selecting dead letters %s%s\n", plan.Topic, strings.Join(what, " and "), mode)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "PARTITION\tLOW WATERMARK\tEND\tDELETE UP TO\tDELETES\tBY REASON\tSELECTED, KEPT"
	if executed {
		head += "\tNEW LOW WATERMARK"
	}
	fmt.Fprintln(tw, head)
	for _, pp := range plan.Partitions {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s\t%d", pp.Partition, pp.Low, pp.End, pp.DeleteBefore, pp.Deletes(), pp.DeletedBy(), pp.Blocked)
		switch {
		case !executed:
		case pp.DeleteBefore <= pp.Low:
			fmt.Fprint(tw, "\t-")
		case pp.Err != nil:
			fmt.Fprintf(tw, "\tfailed: %v", pp.Err)
		default:
			fmt.Fprintf(tw, "\t%d", pp.NewLow)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	verb := "would delete"
	if executed {
		verb = "deleted"
		for _, pp := range plan.Partitions {
			if pp.Err != nil {
				verb = "asked to delete"
			}
		}
	}
	fmt.Fprintf(w, "%s %d records", verb, plan.Deletes())
	if kept > 0 {
		fmt.Fprintf(w, "; %d selected records stay because a record not selected precedes them (Kafka deletes only a prefix of a partition)", kept)
	}
	fmt.Fprintln(w)
	if exported >= 0 {
		fmt.Fprintf(w, "exported %d records to %s\n", exported, c.Export)
	}
	return nil
}
