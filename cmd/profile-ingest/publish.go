package main

import (
	"bufio"
	"bytes"
	"context"
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
	Files        []string `arg:"" name:"file" help:"Files of messages, one JSON object per line; \"-\" reads stdin (held in memory)."`
	Brokers      []string `help:"Kafka bootstrap brokers, comma-separated." env:"KAFKA_BROKERS" default:"127.0.0.1:9092"`
	Topic        string   `help:"Topic to publish to." required:""`
	Partitions   int      `help:"Create the topic with this many partitions when it does not exist (0: it must exist)."`
	AllowInvalid bool     `help:"Publish lines that fail validation too (the worker will dead-letter them). By default any invalid line stops the command before anything is published."`
	BatchSize    int      `help:"Records per write." default:"1000"`
}

func (c *publishCmd) Run() error {
	ctx, stop := signalContext()
	defer stop()
	if c.BatchSize < 1 {
		return &exitError{code: exitUsage, err: fmt.Errorf("publish: --batch-size %d must be positive", c.BatchSize)}
	}
	inputs, err := c.read()
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	keys, invalid, err := checkLines(inputs, c.AllowInvalid)
	if err != nil {
		return &exitError{code: exitRejected, err: err}
	}
	if c.Partitions > 0 {
		client := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: 30 * time.Second}
		if err := createTopic(ctx, client, c.Topic, c.Partitions); err != nil {
			return err
		}
	}
	p, err := publish.New(publish.Config{Brokers: c.Brokers, Topic: c.Topic})
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	defer p.Close()
	began := time.Now()
	var n int
	batch := make([]kafka.Message, 0, c.BatchSize)
	flush := func() error {
		if err := p.PublishRaw(ctx, batch...); err != nil {
			return fmt.Errorf("after %d records: %w", n, err)
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	for _, in := range inputs {
		for _, line := range in.lines {
			batch = append(batch, kafka.Message{Key: keys[0], Value: line})
			keys = keys[1:]
			if len(batch) == c.BatchSize {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "published %d records to %s in %s", n, c.Topic, time.Since(began).Round(time.Millisecond))
	if invalid > 0 {
		fmt.Fprintf(os.Stderr, " (%d invalid, published as --allow-invalid asked)", invalid)
	}
	fmt.Fprintln(os.Stderr)
	return nil
}

type input struct {
	name  string
	lines [][]byte
}

// read loads every non-blank line of the inputs.
func (c *publishCmd) read() ([]input, error) {
	var out []input
	for _, name := range c.Files {
		var r io.Reader = os.Stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return nil, fmt.Errorf("publish: %w", err)
			}
			defer f.Close()
			r = f
		}
		in := input{name: name}
		br := bufio.NewReaderSize(r, 1<<20)
		for {
			line, err := br.ReadBytes('\n')
			if l := bytes.TrimSpace(line); len(l) > 0 {
				in.lines = append(in.lines, l)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("publish: %s: %w", name, err)
			}
		}
		out = append(out, in)
	}
	return out, nil
}

// checkLines validates every line as the worker will and returns each line's key (its
// distinct_id). Unless allowInvalid, any invalid line is an error listing the first few.
func checkLines(inputs []input, allowInvalid bool) (keys [][]byte, invalid int, err error) {
	opts := profile.Options{WorkspaceKey: "publish-check", UserAgent: buildinfo.UserAgent()}
	var problems []string
	for _, in := range inputs {
		for i, line := range in.lines {
			ev, derr := profile.Decode(line, profile.Origin{Topic: in.name, Offset: int64(i + 1), Timestamp: time.Unix(0, 0)}, opts)
			if derr == nil {
				keys = append(keys, []byte(ev.DistinctID))
				continue
			}
			invalid++
			if len(problems) < 20 {
				problems = append(problems, fmt.Sprintf("%s line %d: %v", in.name, i+1, derr))
			}
			keys = append(keys, bestEffortKey(line))
		}
	}
	if invalid > 0 && !allowInvalid {
		return nil, invalid, fmt.Errorf("publish: %d invalid lines, nothing published (--allow-invalid publishes them anyway):\n  %s",
			invalid, strings.Join(problems, "\n  "))
	}
	return keys, invalid, nil
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

// createTopic creates topic with the given partitions unless it exists.
func createTopic(ctx context.Context, c *kafka.Client, topic string, partitions int) error {
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: -1,
	}}})
	if err == nil {
		err = res.Errors[topic]
	}
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	return nil
}
