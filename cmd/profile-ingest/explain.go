package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/profile-ingest/profile-ingest/internal/buildinfo"
	"github.com/profile-ingest/profile-ingest/profile"
)

// explainCmd shows what the worker would send for each message, sending nothing.
//
// Each input line is decoded as the record at partition 0, offset = its line number (from 1),
// of the topic "stdin" (or the file's name as given on the command line), with the record
// timestamp --record-time; so a message without event_id gets the $insert_id the worker would
// give the record at that place, and the output is the same on every run.
type explainCmd struct {
	Files        []string `arg:"" optional:"" name:"file" help:"Files of messages, one JSON object per line. None, or \"-\", reads stdin."`
	WorkspaceKey string   `name:"workspace-key" env:"SUPRSEND_WORKSPACE_KEY" default:"WORKSPACE_KEY" help:"Workspace key to put in each event's env."`
	RecordTime   int64    `name:"record-time" default:"0" help:"Kafka record timestamp, in epoch milliseconds, assumed for messages without a time (default: 0, the Unix epoch, so output is reproducible)."`
}

func (c *explainCmd) Run() error {
	return c.run(os.Stdin, os.Stdout, buildinfo.UserAgent())
}

// explainLine is one line of explain's output.
type explainLine struct {
	Line     int             `json:"line"`
	File     string          `json:"file,omitempty"`
	Event    json.RawMessage `json:"event,omitempty"`
	Rejected *rejection      `json:"rejected,omitempty"`
}

type rejection struct {
	Reason profile.Reason `json:"reason"`
	Error  string         `json:"error"`
	Code   int            `json:"code"`
}

// run explains every line of the inputs to stdout. It returns an *exitError with exitRejected
// when a message was rejected, exitUsage for bad options.
func (c *explainCmd) run(stdin io.Reader, stdout io.Writer, userAgent string) error {
	opts := profile.Options{WorkspaceKey: c.WorkspaceKey, UserAgent: userAgent}
	if err := opts.Validate(); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("explain: --workspace-key: %w", err)}
	}
	out := bufio.NewWriter(stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	var total, rejected int
	explainAll := func(r io.Reader, topic, file string) error {
		n, rej, err := explain(r, topic, file, time.UnixMilli(c.RecordTime), opts, enc)
		total, rejected = total+n, rejected+rej
		return err
	}
	var err error
	if len(c.Files) == 0 {
		err = explainAll(stdin, "stdin", "")
	}
	for _, name := range c.Files {
		if name == "-" {
			if err = explainAll(stdin, "stdin", ""); err != nil {
				break
			}
			continue
		}
		f, ferr := os.Open(name)
		if ferr != nil {
			err = ferr
			break
		}
		err = explainAll(f, name, name)
		f.Close()
		if err != nil {
			break
		}
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	if rejected > 0 {
		return &exitError{code: exitRejected, err: fmt.Errorf("explain: %d of %d messages rejected", rejected, total)}
	}
	return nil
}

// explain decodes each non-blank line of r and writes its explanation with enc. Lines may be
// of any length.
func explain(r io.Reader, topic, file string, recordTime time.Time, opts profile.Options, enc *json.Encoder) (total, rejected int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for lineNo := 1; ; lineNo++ {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return total, rejected, rerr
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) > 0 {
			total++
			out := explainLine{Line: lineNo, File: file}
			origin := profile.Origin{Topic: topic, Partition: 0, Offset: int64(lineNo), Timestamp: recordTime}
			ev, derr := profile.Decode(line, origin, opts)
			if derr != nil {
				rejected++
				var pe *profile.Error
				if !errors.As(derr, &pe) {
					pe = &profile.Error{Reason: profile.ReasonInvalidMessage, Msg: derr.Error()}
				}
				out.Rejected = &rejection{Reason: pe.Reason, Error: pe.Error(), Code: pe.Code()}
			} else {
				out.Event = ev.Body
			}
			if err := enc.Encode(out); err != nil {
				return total, rejected, err
			}
		}
		if rerr != nil {
			return total, rejected, nil
		}
	}
}
