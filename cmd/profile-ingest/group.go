package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/internal/kafkautil"
)

// groupState is a consumer group's state as `status` prints it and `offsets reset` starts
// from: read from the brokers (DescribeGroups, OffsetFetch, ListOffsets, one Fetch per lagging
// partition), not from a running worker.
type groupState struct {
	Group      string           `json:"group"`
	State      string           `json:"state"` // Kafka's: Empty, Stable, PreparingRebalance, CompletingRebalance, Dead
	At         time.Time        `json:"at"`
	Members    []groupMember    `json:"members"`
	Partitions []partitionState `json:"partitions"`
	Totals     groupTotals      `json:"totals"`
}

type groupMember struct {
	ID         string   `json:"id"`
	ClientID   string   `json:"client_id"`
	Host       string   `json:"host"`
	Partitions []string `json:"partitions"` // "topic/partition"
}

// partitionState is one partition: Committed is -1 when the group has no commit for it; Lag
// counts the records from the group's position (its commit, or the log start when it has none
// or the commit is behind the log start) to the end.
type partitionState struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Member    string `json:"member,omitempty"`
	Committed int64  `json:"committed"`
	Start     int64  `json:"start"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
	// NextTimestamp is the Kafka timestamp of the next record the group would consume, when it
	// lags; LagSeconds is how long before At that record was written.
	NextTimestamp *time.Time `json:"next_timestamp,omitempty"`
	LagSeconds    float64    `json:"lag_seconds"`
}

type groupTotals struct {
	Partitions    int     `json:"partitions"`
	Uncommitted   int     `json:"uncommitted"` // partitions without a commit
	Lag           int64   `json:"lag"`
	MaxLagSeconds float64 `json:"max_lag_seconds"`
}

// describeGroup reads group's state on topics (none: the topics the group has commits for or
// its members are assigned).
func describeGroup(ctx context.Context, c *kafka.Client, group string, topics []string, now time.Time) (*groupState, error) {
	st := &groupState{Group: group, At: now.UTC(), Members: []groupMember{}, Partitions: []partitionState{}}
	dg, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return nil, fmt.Errorf("describe group %s: %w", group, err)
	}
	owner := map[string]string{} // "topic/p" → member id
	for _, g := range dg.Groups {
		if g.Error != nil {
			return nil, fmt.Errorf("describe group %s: %w", group, g.Error)
		}
		st.State = g.GroupState
		for _, m := range g.Members {
			gm := groupMember{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Partitions: []string{}}
			for _, t := range m.MemberAssignments.Topics {
				for _, p := range t.Partitions {
					tp := fmt.Sprintf("%s/%d", t.Topic, p)
					gm.Partitions = append(gm.Partitions, tp)
					owner[tp] = m.MemberID
				}
				if len(topics) == 0 || slices.Contains(topics, t.Topic) {
					topics = appendNew(topics, t.Topic)
				}
			}
			st.Members = append(st.Members, gm)
		}
	}
	committed, err := fetchCommitted(ctx, c, group)
	if err != nil {
		return nil, err
	}
	if len(topics) == 0 {
		for t := range committed {
			topics = append(topics, t)
		}
	}
	if len(topics) == 0 {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("group %s has no members and no committed offsets: name its topics with --topic (or --config with kafka.topics)", group)}
	}
	slices.Sort(topics)
	parts, err := topicPartitions(ctx, c, topics)
	if err != nil {
		return nil, err
	}
	starts, err := kafkautil.Offsets(ctx, c, parts, kafka.FirstOffset)
	if err != nil {
		return nil, fmt.Errorf("log start offsets: %w", err)
	}
	ends, err := kafkautil.Offsets(ctx, c, parts, kafka.LastOffset)
	if err != nil {
		return nil, fmt.Errorf("end offsets: %w", err)
	}
	for _, t := range topics {
		for _, p := range parts[t] {
			ps := partitionState{Topic: t, Partition: p, Member: owner[fmt.Sprintf("%s/%d", t, p)],
				Committed: -1, Start: starts[t][p], End: ends[t][p]}
			if off, ok := committed[t][p]; ok {
				ps.Committed = off
			}
			pos := max(ps.Committed, ps.Start)
			ps.Lag = max(ps.End-pos, 0)
			if ps.Lag > 0 {
				ts, err := recordTime(ctx, c, t, p, pos)
				if err != nil {
					return nil, err
				}
				if !ts.IsZero() {
					ts = ts.UTC()
					ps.NextTimestamp = &ts
					ps.LagSeconds = max(st.At.Sub(ts).Seconds(), 0)
				}
			}
			st.Totals.Partitions++
			st.Totals.Lag += ps.Lag
			st.Totals.MaxLagSeconds = max(st.Totals.MaxLagSeconds, ps.LagSeconds)
			if ps.Committed < 0 {
				st.Totals.Uncommitted++
			}
			st.Partitions = append(st.Partitions, ps)
		}
	}
	return st, nil
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// fetchCommitted returns every offset group has committed, by topic and partition.
func fetchCommitted(ctx context.Context, c *kafka.Client, group string) (map[string]map[int]int64, error) {
	res, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group}) // no topics: all of them
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	out := map[string]map[int]int64{}
	for t, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("committed offset of group %s on %s/%d: %w", group, t, p.Partition, p.Error)
			}
			if p.CommittedOffset >= 0 {
				if out[t] == nil {
					out[t] = map[int]int64{}
				}
				out[t][p.Partition] = p.CommittedOffset
			}
		}
	}
	return out, nil
}

// topicPartitions lists the partitions of each topic; a topic that does not exist is an error.
func topicPartitions(ctx context.Context, c *kafka.Client, topics []string) (map[string][]int, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", strings.Join(topics, ", "), err)
	}
	out := map[string][]int{}
	for _, t := range md.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			out[t.Name] = append(out[t.Name], p.ID)
		}
		slices.Sort(out[t.Name])
	}
	return out, nil
}

// recordTime is the timestamp of the first record at or after offset on topic/partition; zero
// when there is none yet.
func recordTime(ctx context.Context, c *kafka.Client, topic string, partition int, offset int64) (time.Time, error) {
	res, err := c.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: partition, Offset: offset,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 500 * time.Millisecond, IsolationLevel: kafka.ReadCommitted})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading %s/%d at %d: %w", topic, partition, offset, err)
	}
	if res.Records == nil {
		return time.Time{}, nil
	}
	for {
		r, err := res.Records.ReadRecord()
		if errors.Is(err, io.EOF) {
			return time.Time{}, nil
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("reading %s/%d at %d: %w", topic, partition, offset, err)
		}
		if r.Offset >= offset { // a batch may begin before the offset asked for
			return r.Time, nil
		}
	}
}

// printGroupState writes st as the status table.
func printGroupState(w io.Writer, st *groupState) {
	fmt.Fprintf(w, "group %s: %s, %d members, at %s\n", st.Group, cmp.Or(st.State, "unknown"), len(st.Members), st.At.Format(time.RFC3339))
	if len(st.Members) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MEMBER\tCLIENT\tHOST\tPARTITIONS")
		for _, m := range st.Members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.ID, m.ClientID, m.Host, cmp.Or(strings.Join(m.Partitions, ","), "-"))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tNEXT RECORD WRITTEN\tLAG TIME\tMEMBER")
	for _, p := range st.Partitions {
		committed, next, lagTime := "-", "-", "-"
		if p.Committed >= 0 {
			committed = fmt.Sprint(p.Committed)
		}
		if p.NextTimestamp != nil {
			next = p.NextTimestamp.Format(time.RFC3339)
			lagTime = (time.Duration(p.LagSeconds * float64(time.Second))).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\n", p.Topic, p.Partition, committed, p.End, p.Lag, next, lagTime, cmp.Or(p.Member, "-"))
	}
	tw.Flush()
	fmt.Fprintf(w, "total: %d partitions, lag %d records, oldest unconsumed record %s old",
		st.Totals.Partitions, st.Totals.Lag, (time.Duration(st.Totals.MaxLagSeconds * float64(time.Second))).Round(time.Second))
	if st.Totals.Uncommitted > 0 {
		fmt.Fprintf(w, "; %d partitions without a commit (their lag counts from the log start)", st.Totals.Uncommitted)
	}
	fmt.Fprintln(w)
}
