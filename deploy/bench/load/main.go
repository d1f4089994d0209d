// Command load writes the benchmark's generated mutations to a topic (deploy/bench/pipeline.sh):
// a backlog as fast as the broker takes it, or a steady stream at a given rate, for the
// latency scenarios. Records are profile.Mutation messages built with profile/publish, keyed by
// distinct_id, without a "time": the worker then gives each event the record's Kafka timestamp
// as its $time, and load stamps each record with the moment it writes it, so a sink that
// subtracts $time from an event's arrival (hubsim --record-latency) measures produce → sink.
//
//	load -brokers 127.0.0.1:9092 -topic t -partitions 256 -n 40000 -size 8000   # a backlog
//	load -brokers 127.0.0.1:9092 -topic t -partitions 8 -rate 2000 -duration 30s # steady
//	load -brokers 127.0.0.1:9092 -topic t -partitions 64                         # create only
//	load -brokers 127.0.0.1:9092 -delete t1,t2                                  # clean up
//
// It prints "published=<records> bytes=<value bytes> seconds=<s>" on stdout when done.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/profile"
	"github.com/profile-ingest/profile-ingest/profile/publish"
)

// opts are load's flags.
type opts struct {
	brokers, topic, del string
	partitions, n, size int
	users, maxMessage   int
	rate                float64
	duration            time.Duration
}

func main() {
	var o opts
	flag.StringVar(&o.brokers, "brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	flag.StringVar(&o.topic, "topic", "", "topic to write to (required unless -delete)")
	flag.IntVar(&o.partitions, "partitions", 0, "create the topic with this many partitions when it does not exist (0: it must exist)")
	flag.IntVar(&o.maxMessage, "max-message-bytes", 0, "the created topic's max.message.bytes (0: the broker's default)")
	flag.IntVar(&o.n, "n", 0, "a backlog: write this many records as fast as the broker takes them")
	flag.Float64Var(&o.rate, "rate", 0, "a steady stream: records per second, for -duration")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "with -rate: how long to write")
	flag.IntVar(&o.size, "size", 0, "pad each record's value to at least this many bytes")
	flag.IntVar(&o.users, "users", 5000, "distinct users (distinct_ids), spread over the partitions by key")
	flag.StringVar(&o.del, "delete", "", "delete these topics (comma-separated) and exit")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o opts) error {
	brokers := strings.Split(o.brokers, ",")
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 60 * time.Second}
	if o.del != "" {
		res, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: strings.Split(o.del, ",")})
		if err != nil {
			return fmt.Errorf("-delete %s: %w", o.del, err)
		}
		for t, err := range res.Errors {
			if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
				return fmt.Errorf("-delete: topic %s: %w", t, err)
			}
		}
		return nil
	}
	switch {
	case o.topic == "":
		return errors.New("-topic: name the topic to write to")
	case o.n < 0 || o.rate < 0 || o.n > 0 && o.rate > 0:
		return errors.New("-n (a backlog) or -rate (a steady stream): give one, positive (neither: only create the topic)")
	case o.n == 0 && o.rate == 0 && o.partitions == 0:
		return errors.New("-n, -rate or -partitions: nothing to do")
	case o.rate > 0 && o.duration <= 0:
		return fmt.Errorf("-duration %s: must be positive", o.duration)
	case o.users < 1:
		return fmt.Errorf("-users %d: must be at least 1", o.users)
	case o.size < 0 || o.partitions < 0 || o.maxMessage < 0:
		return errors.New("-size, -partitions and -max-message-bytes must not be negative")
	}
	if o.partitions > 0 {
		if err := createTopic(ctx, client, o, brokers); err != nil {
			return err
		}
	}
	cfg := publish.Config{Brokers: brokers, Topic: o.topic, BatchSize: 10000}
	if o.rate > 0 {
		// A steady stream writes a few records per partition at a time: flush them at once.
		cfg.BatchTimeout = time.Millisecond
	}
	if o.n == 0 && o.rate == 0 {
		return nil // the topic was all there was to make
	}
	p, err := publish.New(cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	g := gen{users: o.users, size: o.size, p: p}
	began := time.Now()
	if o.rate > 0 {
		err = g.steady(ctx, o.rate, o.duration)
	} else {
		err = g.backlog(ctx, o.n)
	}
	if err != nil {
		return short(err)
	}
	fmt.Printf("published=%d bytes=%d seconds=%.3f\n", g.sent, g.bytes, time.Since(began).Seconds())
	return nil
}

// createTopic creates the topic unless it exists.
func createTopic(ctx context.Context, c *kafka.Client, o opts, brokers []string) error {
	t := kafka.TopicConfig{Topic: o.topic, NumPartitions: o.partitions, ReplicationFactor: -1}
	if o.maxMessage > 0 {
		t.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(o.maxMessage)}}
	}
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{t}})
	if err == nil {
		err = res.Errors[o.topic]
	}
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s on %s: %w", o.topic, strings.Join(brokers, ","), err)
	}
	return waitLeaders(ctx, c, o.topic)
}

// waitLeaders waits until every partition of topic has a leader: a write to a topic just made
// with many partitions is otherwise refused "not leader" for those the broker has not elected.
func waitLeaders(ctx context.Context, c *kafka.Client, topic string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) > 0 {
			led := 0
			for _, p := range md.Topics[0].Partitions {
				if p.Error == nil && p.Leader.Host != "" {
					led++
				}
			}
			if led == len(md.Topics[0].Partitions) {
				return nil
			}
			err = fmt.Errorf("%d of %d partitions have a leader", led, len(md.Topics[0].Partitions))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s: no leader for every partition within 60 s: %v", topic, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// short words a write error in a line: kafka-go lists every failed record's error.
func short(err error) error {
	var we kafka.WriteErrors
	if !errors.As(err, &we) {
		return err
	}
	for _, e := range we {
		if e != nil {
			return fmt.Errorf("%d of %d records not written, the first: %w", we.Count(), len(we), e)
		}
	}
	return err
}

// gen makes and writes the records: record i is user i % users's.
type gen struct {
	users, size int
	p           *publish.Publisher
	sent, bytes int
}

// messages returns n records from number from, stamped with now.
func (g *gen) messages(from, n int, now time.Time) ([]kafka.Message, error) {
	ms := make([]*profile.Mutation, n)
	for i := range ms {
		seq := from + i
		m := profile.NewMutation("bench-u"+strconv.Itoa(seq%g.users)).
			Set("plan", "pro").Set("seq", seq).Increment("logins", 1).
			WithEventID(fmt.Sprintf("bench-%d-%d", now.UnixNano(), seq))
		if g.size > 0 {
			m.Set("pad", strings.Repeat("x", max(g.size-200, 1)))
		}
		ms[i] = m
	}
	msgs, err := g.p.Messages(ms...)
	if err != nil {
		return nil, err
	}
	for i := range msgs {
		msgs[i].Time = now
	}
	return msgs, nil
}

// publish writes msgs, and writes again, for up to 30 s, those a partition's leader was not
// ready for (a topic just made with many partitions).
func (g *gen) publish(ctx context.Context, msgs []kafka.Message) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := g.p.PublishRaw(ctx, msgs...)
		var we kafka.WriteErrors
		if err == nil || !errors.As(err, &we) || len(we) != len(msgs) || time.Now().After(deadline) {
			return err
		}
		var again []kafka.Message
		for i, e := range we {
			switch {
			case e == nil:
			case errors.Is(e, kafka.NotLeaderForPartition), errors.Is(e, kafka.LeaderNotAvailable):
				again = append(again, msgs[i])
			default:
				return err
			}
		}
		msgs = again
		time.Sleep(500 * time.Millisecond)
	}
}

// count counts msgs as written.
func (g *gen) count(msgs []kafka.Message) {
	g.sent += len(msgs)
	for _, m := range msgs {
		g.bytes += len(m.Value)
	}
}

// backlog writes n records: writes of up to 8 MB of values, four at a time (order does not
// matter to a backlog, and one synchronous write at a time leaves the broker idle).
func (g *gen) backlog(ctx context.Context, n int) error {
	per := max(1, min(10000, (8<<20)/max(g.size, 200)))
	work := make(chan []kafka.Message)
	errc := make(chan error, 4)
	var mu sync.Mutex
	for range 4 {
		go func() {
			var err error
			for msgs := range work {
				if err == nil {
					err = g.publish(ctx, msgs)
				}
				if err == nil {
					mu.Lock()
					g.count(msgs)
					mu.Unlock()
				}
			}
			errc <- err
		}()
	}
	var err error
	for made := 0; made < n && err == nil; {
		var msgs []kafka.Message
		if msgs, err = g.messages(made, min(per, n-made), time.Now()); err == nil {
			work <- msgs
			made += len(msgs)
		}
	}
	close(work)
	for range 4 {
		err = errors.Join(err, <-errc)
	}
	return err
}

// steady writes rate records a second for d: every 5 ms, the records due by then (a write that
// took longer is caught up on the next tick, so the mean rate holds).
func (g *gen) steady(ctx context.Context, rate float64, d time.Duration) error {
	total := int(rate * d.Seconds())
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for g.sent < total {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		now := time.Now()
		due := min(total, int(rate*now.Sub(start).Seconds())) - g.sent
		if due <= 0 {
			continue
		}
		msgs, err := g.messages(g.sent, due, now)
		if err != nil {
			return err
		}
		if err := g.publish(ctx, msgs); err != nil {
			return err
		}
		g.count(msgs)
	}
	return nil
}
