package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/profile-ingest/profile-ingest/batcher"
	"github.com/profile-ingest/profile-ingest/config"
	"github.com/profile-ingest/profile-ingest/profile"
	"github.com/profile-ingest/profile-ingest/sender"
)

// requestLine is one line of "explain --requests": a request the worker would send.
type requestLine struct {
	Method  string      `json:"method"`
	Path    string      `json:"path"`
	Headers headerOrder `json:"headers"`
	Body    string      `json:"body"` // the exact bytes (always UTF-8: Decode rejects anything else)
	Records int         `json:"records"`
	Lines   [2]int      `json:"lines"` // first and last input line in the body
	File    string      `json:"file,omitempty"`
}

// requestSink chunks accepted events with package batcher, as the worker chunks one partition,
// and writes each chunk as its signed request when it closes.
type requestSink struct {
	enc       *json.Encoder
	b         *batcher.Batcher
	creds     sender.Credentials
	userAgent string
	path      string // request URI, e.g. "/event/"
	date      time.Time
}

// requestSink builds the sink of --requests from the flags and the secret.
func (c *explainCmd) requestSink(enc *json.Encoder, userAgent string) (*requestSink, error) {
	b, err := batcher.New(batcher.Config{MaxRecords: c.MaxRecords, MaxBytes: c.MaxBytes})
	if err != nil {
		return nil, fmt.Errorf("--max-records %d / --max-bytes %d: %w", c.MaxRecords, c.MaxBytes, err)
	}
	date := time.Now()
	if c.Date != "" {
		if date, err = parseDateHeader(c.Date); err != nil {
			return nil, err
		}
	}
	var cfg config.Config // reads the secret exactly as "run" does
	cfg.SuprSend.SecretFile = c.SecretFile
	if err := cfg.ReadSecrets(); err != nil {
		return nil, fmt.Errorf("--secret-file: %w", err)
	}
	creds := sender.Credentials{Key: c.WorkspaceKey, Secret: cfg.SuprSend.Secret.Reveal()}
	if creds.Secret == "" {
		return nil, errors.New("--requests signs the requests: give the workspace secret in SUPRSEND_WORKSPACE_SECRET or a --secret-file")
	}
	// The sender's own URL rule (trailing "/", then "event/"), so the signed path is the one it posts to.
	snd, err := sender.New(c.BaseURL, creds)
	if err != nil {
		return nil, fmt.Errorf("--base-url: %w", err)
	}
	u, err := url.Parse(snd.URL())
	if err != nil {
		return nil, fmt.Errorf("--base-url: %w", err)
	}
	return &requestSink{enc: enc, b: b, creds: creds, userAgent: userAgent, path: u.RequestURI(), date: date}, nil
}

// parseDateHeader reads a Date header value; it must be in the form the sender writes, so the
// header printed and signed is the one given.
func parseDateHeader(s string) (time.Time, error) {
	t, err := time.Parse(sender.DateFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--date %q: want RFC 1123 in GMT, e.g. %q", s, sender.FormatDate(time.Now()))
	}
	if canon := sender.FormatDate(t); canon != s {
		return time.Time{}, fmt.Errorf("--date %q: did you mean %q?", s, canon)
	}
	return t, nil
}

func (s *requestSink) event(line int, file string, ev profile.Event) (*rejection, error) {
	chunks, err := s.b.Add(batcher.Record{Key: ev.DistinctID, Body: ev.Body, Ref: uint64(line)})
	if err != nil { // the worker dead-letters it with this reason
		return &rejection{Reason: profile.ReasonTooLarge, Error: err.Error(), Code: 400}, nil
	}
	return nil, s.write(file, chunks...)
}

func (s *requestSink) reject(line int, file string, r *rejection) error {
	return s.enc.Encode(explainLine{Line: line, File: file, Rejected: r})
}

func (s *requestSink) skip(line int, file string, sk *profile.Skip) error {
	return s.enc.Encode(explainLine{Line: line, File: file, Skipped: sk})
}

// end flushes the open chunk: chunks never span inputs, as they never span partitions.
func (s *requestSink) end(file string) error {
	c, ok := s.b.Flush(batcher.FlushShutdown)
	if !ok {
		return nil
	}
	return s.write(file, c)
}

func (s *requestSink) write(file string, chunks ...batcher.Chunk) error {
	for _, c := range chunks {
		h := sender.Headers(s.creds, s.userAgent, s.path, c.Body, s.date)
		err := s.enc.Encode(requestLine{
			Method: http.MethodPost, Path: s.path, Headers: headerOrder(h), Body: string(c.Body),
			Records: len(c.Records), Lines: [2]int{int(c.Records[0].Ref), int(c.Records[len(c.Records)-1].Ref)}, File: file,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// headerOrder marshals headers in the order a reader checks them (Content-Type, Date,
// Authorization, User-Agent), then any others sorted; one value each.
type headerOrder http.Header

var headerFirst = []string{"Content-Type", "Date", "Authorization", "User-Agent"}

func (h headerOrder) MarshalJSON() ([]byte, error) {
	names := make([]string, 0, len(h))
	for _, n := range headerFirst {
		if _, ok := h[n]; ok {
			names = append(names, n)
		}
	}
	var rest []string
	for n := range h {
		if !slices.Contains(headerFirst, n) {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, n := range append(names, rest...) {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(n)
		v, _ := json.Marshal(strings.Join(h[n], ", "))
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

var (
	_ explainSink = (*requestSink)(nil)
	_ explainSink = eventSink{}
)
