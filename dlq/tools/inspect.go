package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/dlq"

	"github.com/profile-ingest/profile-ingest/internal/kafkautil"
)

// Entry is one dead letter read back from the dead-letter topic: where it sits, why it failed
// and where it came from, parsed from its headers. A header that is missing or malformed leaves
// its field zero; ParseEntry never fails, so a foreign record on the topic is still shown.
type Entry struct {
	Partition    int
	Offset       int64
	Time         time.Time // the dead letter's own Kafka timestamp
	Key          []byte
	Value        []byte
	Headers      []kafka.Header // every header, this package's and the original record's
	Reason       string
	Error        string
	Status       int
	Origin       dlq.Origin
	Attempts     int
	FirstFailure time.Time
	LastFailure  time.Time
	ReplayCount  int
	InsertID     string // the $insert_id the record was sent with; "" when it never was
	// Original names the record's first consumption (dlq.HeaderOriginal; for a dead letter
	// written before that header existed, its own origin): every copy of one record has the same.
	Original      string
	WorkerVersion string
	WorkerHost    string
	// Foreign: the record carries no dlq.HeaderReason; it was not written by profile-ingest's
	// dead-letter writer (a wrong topic, or something else publishes there).
	Foreign bool
}

// ParseEntry reads the dead letter m.
func ParseEntry(m kafka.Message) Entry {
	h := func(k string) string { v, _ := dlq.Header(m.Headers, k); return v }
	return Entry{
		Partition: m.Partition, Offset: m.Offset, Time: m.Time,
		Key: m.Key, Value: m.Value, Headers: m.Headers,
		Reason: h(dlq.HeaderReason), Error: h(dlq.HeaderError), Status: atoi(h(dlq.HeaderStatus)),
		Origin: dlq.Origin{
			Topic: h(dlq.HeaderOriginTopic), Partition: atoi(h(dlq.HeaderOriginPartition)),
			Offset: int64(atoi(h(dlq.HeaderOriginOffset))), Timestamp: parseTime(h(dlq.HeaderOriginTimestamp)),
		},
		Attempts:      atoi(h(dlq.HeaderAttempts)),
		FirstFailure:  parseTime(h(dlq.HeaderFirstFailure)),
		LastFailure:   parseTime(h(dlq.HeaderLastFailure)),
		ReplayCount:   dlq.ReplayCount(m.Headers),
		InsertID:      h(dlq.HeaderInsertID),
		Original:      dlq.Original(m.Headers, dlq.Origin{Topic: h(dlq.HeaderOriginTopic), Partition: atoi(h(dlq.HeaderOriginPartition)), Offset: int64(atoi(h(dlq.HeaderOriginOffset)))}),
		WorkerVersion: h(dlq.HeaderWorkerVersion),
		WorkerHost:    h(dlq.HeaderWorkerHost),
		Foreign:       !hasHeader(m.Headers, dlq.HeaderReason),
	}
}

func hasHeader(headers []kafka.Header, key string) bool {
	_, ok := dlq.Header(headers, key)
	return ok
}

// FailedAt is the time filters compare: the last failure, or the dead letter's own timestamp
// when the record carries no last-failure header.
func (e Entry) FailedAt() time.Time {
	if e.LastFailure.IsZero() {
		return e.Time
	}
	return e.LastFailure
}

// line is the JSON shape of an Entry printed by `dlq inspect`; keep it stable, scripts read it.
type line struct {
	Partition     int        `json:"partition"`
	Offset        int64      `json:"offset"`
	Time          string     `json:"time"`
	Key           string     `json:"key"`
	Reason        string     `json:"reason"`
	Status        int        `json:"status"`
	Error         string     `json:"error"`
	Origin        lineOrigin `json:"origin"`
	Attempts      int        `json:"attempts"`
	FirstFailure  string     `json:"first_failure"`
	LastFailure   string     `json:"last_failure"`
	ReplayCount   int        `json:"replay_count"`
	InsertID      string     `json:"insert_id,omitempty"`
	WorkerVersion string     `json:"worker_version"`
	WorkerHost    string     `json:"worker_host"`
	ValueBytes    int        `json:"value_bytes"`
	Value         *string    `json:"value,omitempty"`
	Foreign       bool       `json:"foreign,omitempty"` // true: no dead-letter headers
}

type lineOrigin struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	Timestamp string `json:"timestamp"`
}

// MarshalLine returns e as one JSON object without a newline. Times are RFC 3339 with
// milliseconds in UTC, "" when unknown; key and value are strings (bytes that are not UTF-8
// become U+FFFD); the value is included only when showValue is set.
func (e Entry) MarshalLine(showValue bool) ([]byte, error) {
	l := line{
		Partition: e.Partition, Offset: e.Offset, Time: dlq.FormatTime(e.Time), Key: string(e.Key),
		Reason: e.Reason, Status: e.Status, Error: e.Error,
		Origin: lineOrigin{Topic: e.Origin.Topic, Partition: e.Origin.Partition, Offset: e.Origin.Offset,
			Timestamp: dlq.FormatTime(e.Origin.Timestamp)},
		Attempts: e.Attempts, FirstFailure: dlq.FormatTime(e.FirstFailure), LastFailure: dlq.FormatTime(e.LastFailure),
		ReplayCount: e.ReplayCount, InsertID: e.InsertID, WorkerVersion: e.WorkerVersion, WorkerHost: e.WorkerHost,
		ValueBytes: len(e.Value), Foreign: e.Foreign,
	}
	if showValue {
		v := string(e.Value)
		l.Value = &v
	}
	return json.Marshal(l)
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0
	}
	return n
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// Filter selects dead letters. The zero Filter selects every one.
type Filter struct {
	// Reasons keeps dead letters with any of these reasons. Default: empty, every reason.
	Reasons []string
	// Since keeps dead letters whose FailedAt is at or after it. Default: zero, no bound.
	Since time.Time
	// Until keeps dead letters whose FailedAt is before it. Default: zero, no bound.
	Until time.Time
	// Partitions reads only these partitions of the dead-letter topic. Default: empty, all.
	Partitions []int
	// Keys keeps dead letters whose record key (the distinct_id) is one of these. Default:
	// empty, every key.
	Keys []string
	// OriginTopics keeps dead letters consumed from one of these topics. Default: empty, all.
	OriginTopics []string
	// ErrorContains keeps dead letters whose error text contains it, ignoring case. Default:
	// "", any error.
	ErrorContains string
}

// Validate names the first field that is wrong and its value.
func (f Filter) Validate() error {
	for _, r := range f.Reasons {
		if strings.TrimSpace(r) == "" {
			return fmt.Errorf("dlq: Reasons %q: a reason must not be empty", f.Reasons)
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return fmt.Errorf("dlq: Since %s must be before Until %s", dlq.FormatTime(f.Since), dlq.FormatTime(f.Until))
	}
	for _, p := range f.Partitions {
		if p < 0 {
			return fmt.Errorf("dlq: Partitions %v: %d is negative", f.Partitions, p)
		}
	}
	return nil
}

// Match reports whether f keeps e. Partitions are not checked here: they choose what is read.
func (f Filter) Match(e Entry) bool {
	if len(f.Reasons) > 0 && !slices.Contains(f.Reasons, e.Reason) {
		return false
	}
	if len(f.Keys) > 0 && !slices.Contains(f.Keys, string(e.Key)) {
		return false
	}
	if len(f.OriginTopics) > 0 && !slices.Contains(f.OriginTopics, e.Origin.Topic) {
		return false
	}
	if f.ErrorContains != "" && !strings.Contains(strings.ToLower(e.Error), strings.ToLower(f.ErrorContains)) {
		return false
	}
	at := e.FailedAt()
	if !f.Since.IsZero() && at.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !at.Before(f.Until) {
		return false
	}
	return true
}

// SeekMargin is how far before Filter.Since a scan starts, by record timestamp: a dead letter's
// timestamp is set when it is written, after its last failure, so seeking to Since-SeekMargin
// loses none to clock skew between the worker and a broker that stamps LogAppendTime.
const SeekMargin = time.Minute

// ScanConfig bounds how a Scanner reads.
type ScanConfig struct {
	// FetchMaxBytes is the most one fetch of a partition returns. Default: 1 MiB.
	FetchMaxBytes int
	// IdleTimeout fails a read that gets no record for this long before reaching the end offset
	// seen at start, rather than waiting for ever. Default: 30s.
	IdleTimeout time.Duration
	// RequestTimeout bounds one metadata, offsets or commit request. Default: 30s.
	RequestTimeout time.Duration
}

// DefaultScan returns the defaults.
func DefaultScan() ScanConfig {
	return ScanConfig{FetchMaxBytes: 1 << 20, IdleTimeout: 30 * time.Second, RequestTimeout: 30 * time.Second}
}

// Validate names the first field that is wrong and its value.
func (c ScanConfig) Validate() error {
	switch {
	case c.FetchMaxBytes < 1:
		return fmt.Errorf("dlq: FetchMaxBytes %d must be positive", c.FetchMaxBytes)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("dlq: IdleTimeout %s must be positive", c.IdleTimeout)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("dlq: RequestTimeout %s must be positive", c.RequestTimeout)
	}
	return nil
}

// Scanner reads a dead-letter topic without a consumer group, partition by partition, from a
// start offset up to the end offsets it saw when the scan began; it changes nothing on the
// broker. A Scanner is safe for concurrent use.
type Scanner struct {
	brokers   []string
	topic     string
	cfg       ScanConfig
	dialer    *kafka.Dialer
	transport kafka.RoundTripper
	client    *kafka.Client
}

// ScanOption sets an optional collaborator of a Scanner.
type ScanOption func(*Scanner)

// WithConnection sets how readers dial (dialer) and how requests and writes travel (transport),
// both carrying the same TLS and SASL settings. Default: kafka.DefaultDialer, kafka.DefaultTransport.
func WithConnection(dialer *kafka.Dialer, transport kafka.RoundTripper) ScanOption {
	return func(s *Scanner) { s.dialer, s.transport = dialer, transport }
}

// WithScanConfig replaces DefaultScan.
func WithScanConfig(c ScanConfig) ScanOption { return func(s *Scanner) { s.cfg = c } }

// NewScanner returns a Scanner of topic on brokers.
func NewScanner(brokers []string, topic string, opts ...ScanOption) (*Scanner, error) {
	if len(brokers) == 0 {
		return nil, errors.New("dlq: no brokers")
	}
	if strings.TrimSpace(topic) == "" {
		return nil, errors.New("dlq: the dead-letter topic is empty")
	}
	s := &Scanner{brokers: brokers, topic: topic, cfg: DefaultScan(), dialer: kafka.DefaultDialer}
	for _, o := range opts {
		o(s)
	}
	if err := s.cfg.Validate(); err != nil {
		return nil, err
	}
	s.client = &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: s.cfg.RequestTimeout, Transport: s.transport}
	return s, nil
}

// Topic returns the dead-letter topic.
func (s *Scanner) Topic() string { return s.topic }

// ErrTopicNotFound: the topic does not exist.
var ErrTopicNotFound = errors.New("topic does not exist")

// span is the part of one partition a scan reads.
type span struct {
	partition int
	first     int64 // the log start offset
	end       int64 // the end offset when the scan began: the next record's offset
	since     int64 // the first offset at or after Filter.Since-SeekMargin; first when no Since
}

// spans returns the partitions f selects with their offsets now.
func (s *Scanner) spans(ctx context.Context, f Filter) ([]span, error) {
	n, err := s.partitions(ctx, s.topic)
	if err != nil {
		return nil, err
	}
	parts := f.Partitions
	if len(parts) == 0 {
		for p := range n {
			parts = append(parts, p)
		}
	}
	parts = slices.Compact(slices.Sorted(slices.Values(parts)))
	for _, p := range parts {
		if p >= n {
			return nil, fmt.Errorf("dlq: partition %d: topic %s has %d partitions (0..%d)", p, s.topic, n, n-1)
		}
	}
	first, err := s.listOffsets(ctx, parts, kafka.FirstOffset)
	if err != nil {
		return nil, err
	}
	end, err := s.listOffsets(ctx, parts, kafka.LastOffset)
	if err != nil {
		return nil, err
	}
	since := first
	if !f.Since.IsZero() {
		at := f.Since.Add(-SeekMargin)
		if since, err = s.listOffsets(ctx, parts, at.UnixMilli()); err != nil {
			return nil, err
		}
	}
	out := make([]span, 0, len(parts))
	for _, p := range parts {
		sp := span{partition: p, first: first[p], end: end[p], since: since[p]}
		if sp.since < 0 { // no record at or after the time
			sp.since = sp.end
		}
		sp.since = max(sp.since, sp.first)
		out = append(out, sp)
	}
	return out, nil
}

// partitions returns how many partitions topic has; ErrTopicNotFound when it does not exist.
func (s *Scanner) partitions(ctx context.Context, topic string) (int, error) {
	md, err := s.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("dlq: metadata of %s: %w", topic, err)
	}
	if len(md.Topics) != 1 {
		return 0, fmt.Errorf("dlq: metadata of %s: %d topics in the answer", topic, len(md.Topics))
	}
	if err := md.Topics[0].Error; err != nil {
		if errors.Is(err, kafka.UnknownTopicOrPartition) {
			return 0, fmt.Errorf("dlq: topic %s: %w", topic, ErrTopicNotFound)
		}
		return 0, fmt.Errorf("dlq: metadata of %s: %w", topic, err)
	}
	return len(md.Topics[0].Partitions), nil
}

// listOffsets asks one kind of offset (kafkautil.Offsets' which) for every partition.
func (s *Scanner) listOffsets(ctx context.Context, parts []int, which int64) (map[int]int64, error) {
	out, err := kafkautil.Offsets(ctx, s.client, map[string][]int{s.topic: parts}, which)
	if err != nil {
		return nil, fmt.Errorf("dlq: list offsets of %s: %w", s.topic, err)
	}
	return out[s.topic], nil
}

// read calls each for every record of partition in [from, to), in offset order.
func (s *Scanner) read(ctx context.Context, partition int, from, to int64, each func(kafka.Message) error) error {
	if from >= to {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: s.brokers, Topic: s.topic, Partition: partition, Dialer: s.dialer,
		MinBytes: 1, MaxBytes: s.cfg.FetchMaxBytes, MaxWait: 250 * time.Millisecond,
	})
	defer kafkautil.CloseReader(r, 5*time.Second)
	if err := r.SetOffset(from); err != nil {
		return fmt.Errorf("dlq: seek %s/%d to %d: %w", s.topic, partition, from, err)
	}
	next := from
	for {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.IdleTimeout)
		m, err := r.FetchMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("no record for %s (the end offset seen at start is %d)", s.cfg.IdleTimeout, to)
			}
			return fmt.Errorf("dlq: read %s/%d at offset %d: %w", s.topic, partition, next, errors.Join(err, ctx.Err()))
		}
		if m.Offset >= to {
			return nil
		}
		if err := each(m); err != nil {
			return err
		}
		next = m.Offset + 1
		if next >= to {
			return nil
		}
	}
}

// ScanStats counts what a scan read.
type ScanStats struct {
	Total   int64 // records in the ranges to read, when the scan began
	Read    int64 // records read so far
	Matched int64 // records the filter kept
	// NotDeadLetters counts the Foreign records read, without a dlq.HeaderReason header: not
	// dead letters this worker wrote (a wrong --topic, or records published there by something
	// else). A filter without criteria passes them to each, marked; a Summary does not count them.
	NotDeadLetters int64
}

// Inspect calls each with every dead letter f keeps, partition by partition in offset order,
// from the start of each partition (or Filter.Since, by record time) up to the end offsets seen
// when it began; it stops after limit entries when limit > 0. progress, when not nil, is called
// after every record read.
func (s *Scanner) Inspect(ctx context.Context, f Filter, limit int, each func(Entry) error, progress func(ScanStats)) (ScanStats, error) {
	var st ScanStats
	if err := f.Validate(); err != nil {
		return st, err
	}
	spans, err := s.spans(ctx, f)
	if err != nil {
		return st, err
	}
	for _, sp := range spans {
		st.Total += sp.end - sp.since
	}
	errLimit := errors.New("limit reached")
	for _, sp := range spans {
		err := s.read(ctx, sp.partition, sp.since, sp.end, func(m kafka.Message) error {
			st.Read++
			e := ParseEntry(m)
			if e.Foreign {
				st.NotDeadLetters++
			}
			if f.Match(e) {
				st.Matched++
				if err := each(e); err != nil {
					return err
				}
			}
			if progress != nil {
				progress(st)
			}
			if limit > 0 && st.Matched >= int64(limit) {
				return errLimit
			}
			return nil
		})
		if errors.Is(err, errLimit) {
			return st, nil
		}
		if err != nil {
			return st, err
		}
	}
	return st, nil
}
