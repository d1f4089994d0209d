package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/internal/buildinfo"
	"github.com/profile-ingest/profile-ingest/profile"
	"github.com/profile-ingest/profile-ingest/profile/publish"
)

// publishCmd is `profile-ingest publish`: it writes mutation messages from files, one JSON per
// line, to a topic, keyed by distinct_id and partitioned as Java clients do, in file order. It is
// how a data pipeline replays profile history: each message keeps its own "time".
type publishCmd struct {
	Files        []string `arg:"" name:"file" help:"Files of messages, one JSON object per line; \"-\" reads stdin (spooled to a temporary file)."`
	kafkaFlags   `embed:""`
	Topic        string `help:"Topic to publish to (default: the config file's first kafka.topics)."`
	Partitions   int    `help:"Create the topic with this many partitions when it does not exist (0: it must exist)."`
	AllowInvalid bool   `help:"Publish lines that fail validation too (the worker will dead-letter them). By default any invalid line stops the command before anything is published."`
	BatchSize    int    `help:"Records per write: each write waits for every in-sync replica, so larger writes mean fewer waits." default:"10000"`
	BatchBytes   int    `help:"Bytes of record values per write, at most." default:"16777216"`
	EventIDs     bool   `name:"event-ids" default:"true" negatable:"" help:"Give each v1 line without an event_id a deterministic one (a UUIDv5 of the file's base name, the line number and the line's SHA-256), so publishing the same file again is deduplicated by SuprSend instead of applying increment and append twice. --no-event-ids publishes lines unchanged."`
	FromLine     int    `name:"from-line" help:"Resume: start at this line of the first file (lines before it are neither checked nor published). A failed or interrupted publish prints the value to give."`
	IDName       string `name:"id-name" help:"With event ids: the name the ids hang on instead of the file's base name (e.g. a file renamed between two runs). Applies to every file given."`

	stdinSpool string // the temporary file "-" was spooled to
}

func (c *publishCmd) Run() error {
	ctx, stop := signalContext()
	defer stop()
	if c.BatchSize < 1 {
		return &exitError{code: exitUsage, err: fmt.Errorf("publish: --batch-size %d must be positive", c.BatchSize)}
	}
	if c.BatchBytes < 1 {
		return &exitError{code: exitUsage, err: fmt.Errorf("publish: --batch-bytes %d must be positive", c.BatchBytes)}
	}
	if c.FromLine < 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("publish: --from-line %d: must be positive (1 is the first line)", c.FromLine)}
	}
	if c.Partitions < 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("publish: --partitions %d: must be positive, or 0 (the default) for a topic that must exist", c.Partitions)}
	}
	if err := checkInputFiles("publish", c.Files); err != nil {
		return err
	}
	cfg, _, transport, err := c.cluster("publish")
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	topic := c.Topic
	if topic == "" && len(cfg.Kafka.Topics) > 0 {
		topic = cfg.Kafka.Topics[0]
	}
	if strings.TrimSpace(topic) == "" {
		return &exitError{code: exitUsage, err: errors.New("publish: --topic: name the topic (or give --config with kafka.topics)")}
	}
	files, cleanup, err := c.spoolStdin()
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	defer cleanup()
	dec, err := profile.NewDecoder(profile.Options{WorkspaceKey: "publish-check", UserAgent: buildinfo.UserAgent()})
	if err != nil {
		return err
	}

	// Pass 1: every line must be valid before anything is published (unless --allow-invalid).
	if !c.AllowInvalid {
		var invalid int
		var problems []string
		err := eachLine(files, c.FromLine, func(name string, n int, line []byte) error {
			if _, err := decodeLine(line, name, n, dec); err != nil {
				invalid++
				if len(problems) < 20 {
					problems = append(problems, fmt.Sprintf("%s line %d: %v", name, n, err))
				}
			}
			return nil
		})
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		if invalid > 0 {
			return &exitError{code: exitRejected, err: fmt.Errorf("publish: %d invalid lines, nothing published (--allow-invalid publishes them anyway):\n  %s",
				invalid, strings.Join(problems, "\n  "))}
		}
	}
	if c.Partitions > 0 {
		client := &kafka.Client{Addr: kafka.TCP(cfg.Kafka.Brokers...), Timeout: 30 * time.Second, Transport: transport}
		if err := createTopic(ctx, client, topic, c.Partitions); err != nil {
			return err
		}
	}
	p, err := publish.New(publish.Config{Brokers: cfg.Kafka.Brokers, Topic: topic, Transport: transport, BatchSize: c.BatchSize})
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	defer p.Close()

	// Pass 2: stream the lines in order, keyed by distinct_id, a batch at a time.
	began := time.Now()
	var published, invalid, batchBytes int
	batch := make([]kafka.Message, 0, min(c.BatchSize, 1<<16))
	var first linePos // the batch's first line: where a resume starts when it fails
	prog := newPublishProgress(os.Stderr, files)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := p.PublishRaw(ctx, batch...); err != nil {
			return c.resumeError(ctx, files, first, published, err)
		}
		published += len(batch)
		prog.published(published)
		batch, batchBytes = batch[:0], 0
		return nil
	}
	err = eachLine(files, c.FromLine, func(name string, n int, line []byte) error {
		prog.read(len(line) + 1)
		if len(batch) == 0 {
			first = linePos{name, n}
		}
		key := bestEffortKey(line)
		if ev, err := decodeLine(line, name, n, dec); err == nil {
			key = []byte(ev.DistinctID)
		} else {
			invalid++
		}
		value := line
		if c.EventIDs {
			value = withEventID(line, c.fileIdentity(name), n)
		}
		batch = append(batch, kafka.Message{Key: key, Value: value})
		if batchBytes += len(line); len(batch) < c.BatchSize && batchBytes < c.BatchBytes {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	prog.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "published %d records to %s in %s", published, topic, time.Since(began).Round(time.Millisecond))
	if invalid > 0 {
		fmt.Fprintf(os.Stderr, " (%d invalid, published as --allow-invalid asked)", invalid)
	}
	fmt.Fprintln(os.Stderr)
	return nil
}

// decodeLine checks one line as the worker will.
func decodeLine(line []byte, name string, n int, dec *profile.Decoder) (profile.Event, error) {
	return dec.Decode(line, profile.Origin{Topic: name, Offset: int64(n), Timestamp: time.Unix(0, 0)})
}

// spoolStdin copies stdin ("-") to a temporary file, so that it can be read twice without
// holding it in memory, and returns the files to read.
func (c *publishCmd) spoolStdin() (files []string, cleanup func(), err error) {
	cleanup = func() {}
	for _, name := range c.Files {
		if name != "-" {
			files = append(files, name)
			continue
		}
		f, err := os.CreateTemp("", "profile-ingest-publish-*.jsonl")
		if err != nil {
			return nil, cleanup, fmt.Errorf("publish: %w", err)
		}
		cleanup = func() { os.Remove(f.Name()) }
		c.stdinSpool = f.Name()
		_, err = io.Copy(f, os.Stdin)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, cleanup, fmt.Errorf("publish: reading stdin: %w", err)
		}
		files = append(files, f.Name())
	}
	return files, cleanup, nil
}

// eachLine calls fn for every non-blank line of the files, in order, with its 1-based line
// number, from line from of the first file (0 or 1: all of it); it stops at fn's first error.
func eachLine(files []string, from int, fn func(name string, n int, line []byte) error) error {
	for i, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		br := bufio.NewReaderSize(f, 1<<20)
		for n := 1; ; n++ {
			line, rerr := br.ReadBytes('\n')
			if l := bytes.TrimSpace(line); len(l) > 0 && (i > 0 || n >= from) {
				if err := fn(name, n, l); err != nil {
					f.Close()
					return err
				}
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				f.Close()
				return fmt.Errorf("publish: %s: %w", name, rerr)
			}
		}
		f.Close()
	}
	return nil
}

// bestEffortKey is the distinct_id of an invalid message when one can be read, so that it lands
// on its user's partition; nil otherwise.
func bestEffortKey(line []byte) []byte {
	var m struct {
		DistinctID string `json:"distinct_id"`
	}
	if json.Unmarshal(line, &m) != nil || strings.TrimSpace(m.DistinctID) == "" {
		return nil
	}
	return []byte(strings.TrimSpace(m.DistinctID))
}
