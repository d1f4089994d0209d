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

	"github.com/profile-ingest/profile-ingest/consumer"
	"github.com/profile-ingest/profile-ingest/internal/buildinfo"
	"github.com/profile-ingest/profile-ingest/profile"
	"github.com/profile-ingest/profile-ingest/profile/mapping"
)

// explainCmd shows what the worker would send for each message, sending nothing.
//
// Each input line is decoded as the record at partition 0, offset = its line number (from 1),
// of the topic "stdin" (or the file's name as given on the command line), with the record
// timestamp --record-time; so a message without event_id gets the $insert_id the worker would
// give the record at that place, and the output is the same on every run.
//
// With --requests it prints the signed HTTP requests instead (requests.go): each input is one
// partition, chunked by package batcher as the worker chunks it.
type explainCmd struct {
	Files        []string `arg:"" optional:"" name:"file" help:"Files of messages, one JSON object per line. None, or \"-\", reads stdin."`
	WorkspaceKey string   `name:"workspace-key" env:"SUPRSEND_WORKSPACE_KEY" default:"WORKSPACE_KEY" help:"Workspace key to put in each event's env (and, with --requests, in Authorization)."`
	RecordTime   int64    `name:"record-time" default:"0" help:"Kafka record timestamp, in epoch milliseconds, assumed for messages without a time (default: 0, the Unix epoch, so output is reproducible)."`

	Requests   bool   `name:"requests" help:"Print one JSON line per HTTP request the worker would send (method, path, signed headers, the exact body, records, first and last line), chunked as the worker chunks one partition, instead of one line per event. Needs the workspace secret: --secret-file or SUPRSEND_WORKSPACE_SECRET."`
	MaxRecords int    `name:"max-records" default:"400" help:"With --requests: most events in one request (batch.max_records, 1..400)."`
	MaxBytes   int    `name:"max-bytes" default:"819200" help:"With --requests: most bytes in one request body, brackets and commas included (batch.max_bytes, 3..819200)."`
	Date       string `name:"date" help:"With --requests: the Date header to sign, RFC 1123 in GMT, e.g. \"Mon, 30 Nov 2026 03:31:15 GMT\" (default: now)."`
	BaseURL    string `name:"base-url" env:"SUPRSEND_BASE_URL" default:"https://hub.suprsend.com/" help:"With --requests: SuprSend base URL; the requests go to its path + \"event/\"."`
	SecretFile string `name:"secret-file" help:"With --requests: file holding the workspace secret that signs the requests; else SUPRSEND_WORKSPACE_SECRET is read. (There is no flag for the secret itself: it would show in ps.)"`

	Format  string `name:"format" default:"mutation" enum:"mutation,debezium,segment" help:"The messages' format: mutation, debezium (change-event values, one a line) or segment (Segment-spec calls)."`
	Mapping string `name:"mapping" type:"existingfile" help:"With --format debezium or segment: the mapping file (see deploy/mapping.example.yaml). Segment without one uses SuprSend's defaults."`
}

// Help is the detailed help of "explain --help".
func (c *explainCmd) Help() string {
	return `Each line prints {"line":N,"event":{...}} or {"line":N,"rejected":{"reason","error","code"}}.

With --requests, accepted events are chunked with the worker's count and byte rules
(--max-records, --max-bytes; each input is one partition) and each chunk prints as the request
the worker would send:
  {"method":"POST","path":"/event/","headers":{"Content-Type":...,"Date":...,
   "Authorization":"KEY:SIGNATURE","User-Agent":...},"body":"<exact body>","records":N,"lines":[first,last]}
Rejected lines still print, in input order, before the request that follows them. The
signature needs the workspace secret, from --secret-file or SUPRSEND_WORKSPACE_SECRET; --date
fixes the Date header so the output is reproducible.`
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
	Skipped  *profile.Skip   `json:"skipped,omitempty"` // a record the worker commits past (a tombstone, a track call)
}

type rejection struct {
	Reason profile.Reason `json:"reason"`
	Error  string         `json:"error"`
	Code   int            `json:"code"`
}

// run explains every line of the inputs to stdout. It returns an *exitError with exitRejected
// when a message was rejected, exitUsage for bad options.
func (c *explainCmd) run(stdin io.Reader, stdout io.Writer, userAgent string) error {
	dec, err := profile.NewDecoder(profile.Options{WorkspaceKey: c.WorkspaceKey, UserAgent: userAgent})
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("explain: --workspace-key: %w", err)}
	}
	if err := checkInputFiles("explain", c.Files); err != nil {
		return err
	}
	decode, err := formatDecoder(mapping.Format(c.Format), c.Mapping, dec, nil)
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("explain: --mapping: %w", err)}
	}
	out := bufio.NewWriter(stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	var sink explainSink = eventSink{enc}
	if c.Requests {
		rs, err := c.requestSink(enc, userAgent)
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("explain: %w", err)}
		}
		sink = rs
	}
	var total, rejected int
	explainAll := func(r io.Reader, topic, file string) error {
		n, rej, err := explain(r, topic, file, time.UnixMilli(c.RecordTime), decode, sink)
		total, rejected = total+n, rejected+rej
		return err
	}
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

// explainSink receives explain's verdicts on one input, in input order.
type explainSink interface {
	// event takes an accepted message's identity event; it may write it, or keep it.
	event(line int, file string, ev profile.Event) (rejected *rejection, err error)
	// reject writes a rejected message's line.
	reject(line int, file string, r *rejection) error
	// skip writes the line of a message that sends nothing.
	skip(line int, file string, s *profile.Skip) error
	// end is called once an input is read to its end.
	end(file string) error
}

// eventSink writes one line per event.
type eventSink struct{ enc *json.Encoder }

func (s eventSink) event(line int, file string, ev profile.Event) (*rejection, error) {
	return nil, s.enc.Encode(explainLine{Line: line, File: file, Event: ev.Body})
}

func (s eventSink) reject(line int, file string, r *rejection) error {
	return s.enc.Encode(explainLine{Line: line, File: file, Rejected: r})
}

func (s eventSink) skip(line int, file string, sk *profile.Skip) error {
	return s.enc.Encode(explainLine{Line: line, File: file, Skipped: sk})
}

func (eventSink) end(string) error { return nil }

// explain decodes each non-blank line of r and gives the verdict to sink. Lines may be of any
// length.
func explain(r io.Reader, topic, file string, recordTime time.Time, decode consumer.Decoder, sink explainSink) (total, rejected int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for lineNo := 1; ; lineNo++ {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return total, rejected, rerr
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) > 0 {
			total++
			origin := profile.Origin{Topic: topic, Partition: 0, Offset: int64(lineNo), Timestamp: recordTime}
			ev, derr := decode(nil, line, origin)
			var rej *rejection
			var skip *profile.Skip
			if errors.As(derr, &skip) {
				if err := sink.skip(lineNo, file, skip); err != nil {
					return total, rejected, err
				}
			} else if derr != nil {
				var pe *profile.Error
				if !errors.As(derr, &pe) {
					pe = &profile.Error{Reason: profile.ReasonInvalidMessage, Msg: derr.Error()}
				}
				rej = &rejection{Reason: pe.Reason, Error: pe.Error(), Code: pe.Code()}
			} else if rej, err = sink.event(lineNo, file, ev); err != nil {
				return total, rejected, err
			}
			if rej != nil {
				rejected++
				if err := sink.reject(lineNo, file, rej); err != nil {
					return total, rejected, err
				}
			}
		}
		if rerr != nil {
			return total, rejected, sink.end(file)
		}
	}
}
