package dlq

import (
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/profile"
)

// Header names on a dead-letter record. The record's key and value are the original record's,
// unchanged; its original headers follow these. Documented in the README.
const (
	HeaderReason          = "profile-ingest-reason"           // why: invalid_json, invalid_operation, too_large, rejected, retries_exhausted, …
	HeaderError           = "profile-ingest-error"            // the error text, at most MaxErrorBytes
	HeaderStatus          = "profile-ingest-status"           // the API's last HTTP status; 0 when none
	HeaderOriginTopic     = "profile-ingest-origin-topic"     // where the record was consumed from
	HeaderOriginPartition = "profile-ingest-origin-partition" //
	HeaderOriginOffset    = "profile-ingest-origin-offset"    //
	HeaderOriginTimestamp = "profile-ingest-origin-timestamp" // the record's Kafka timestamp, RFC 3339 with ms
	HeaderAttempts        = "profile-ingest-attempts"         // HTTP attempts that carried the record; 0 for a message refused before sending
	HeaderFirstFailure    = "profile-ingest-first-failure"    // RFC 3339 with ms
	HeaderLastFailure     = "profile-ingest-last-failure"     // RFC 3339 with ms
	HeaderWorkerVersion   = "profile-ingest-worker-version"   // the worker's user agent
	HeaderWorkerHost      = "profile-ingest-worker-host"      // the worker's host name
	HeaderReplayCount     = "profile-ingest-replay-count"     // how many times this record was replayed from a dead-letter topic
	HeaderInsertID        = profile.InsertIDHeader            // the $insert_id the record was sent with; absent when it never was
	// HeaderOriginal names the record's first consumption, "topic/partition/offset": every dead
	// letter of the record and every replay of it carry the same value, so the replay's loop
	// guard counts per original record, whatever the copy and whichever group replays it.
	HeaderOriginal = "profile-ingest-original"
)

// Original is the value of HeaderOriginal for a record consumed at origin with headers: the
// value it already carries (it is a replay), else origin's topic/partition/offset.
func Original(headers []kafka.Header, origin Origin) string {
	if v, ok := Header(headers, HeaderOriginal); ok && v != "" {
		return v
	}
	return origin.Topic + "/" + strconv.Itoa(origin.Partition) + "/" + strconv.FormatInt(origin.Offset, 10)
}

// MaxErrorBytes bounds the error text kept in a header.
const MaxErrorBytes = 2048

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// Origin says where a dead-lettered record was consumed from.
type Origin struct {
	Topic     string
	Partition int
	Offset    int64
	Timestamp time.Time
}

// Record is one record to dead-letter: the original record and why it failed.
type Record struct {
	Key, Value []byte
	Headers    []kafka.Header // the original record's headers, kept after this package's own
	Origin     Origin

	Reason       string
	Err          string
	Status       int
	Attempts     int
	FirstFailure time.Time
	LastFailure  time.Time
	// InsertID is the $insert_id the record was sent to the API with; "" when it never was
	// sent. A replay carries it, so the API can recognise a record it already applied.
	InsertID string
}

// IsOwnHeader reports whether a header name is one this package writes.
func IsOwnHeader(name string) bool { return strings.HasPrefix(name, "profile-ingest-") }

// ReplayCount returns the replay count a record carries in its headers, 0 when none.
func ReplayCount(headers []kafka.Header) int {
	for _, h := range headers {
		if h.Key == HeaderReplayCount {
			n, err := strconv.Atoi(string(h.Value))
			if err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

// Message is the dead-letter record r becomes, with the error text already redacted: its key
// and value unchanged, this package's headers, then the original's. It is the header contract
// package dlq/tools reads back.
func (r Record) Message(workerVersion, host, errText string) kafka.Message {
	h := make([]kafka.Header, 0, 14+len(r.Headers))
	add := func(k, v string) { h = append(h, kafka.Header{Key: k, Value: []byte(v)}) }
	add(HeaderReason, r.Reason)
	add(HeaderError, errText)
	add(HeaderStatus, strconv.Itoa(r.Status))
	add(HeaderOriginTopic, r.Origin.Topic)
	add(HeaderOriginPartition, strconv.Itoa(r.Origin.Partition))
	add(HeaderOriginOffset, strconv.FormatInt(r.Origin.Offset, 10))
	add(HeaderOriginTimestamp, FormatTime(r.Origin.Timestamp))
	add(HeaderAttempts, strconv.Itoa(r.Attempts))
	add(HeaderFirstFailure, FormatTime(r.FirstFailure))
	add(HeaderLastFailure, FormatTime(r.LastFailure))
	add(HeaderWorkerVersion, workerVersion)
	add(HeaderWorkerHost, host)
	add(HeaderReplayCount, strconv.Itoa(ReplayCount(r.Headers)))
	add(HeaderOriginal, Original(r.Headers, r.Origin))
	if r.InsertID != "" {
		add(HeaderInsertID, r.InsertID)
	}
	for _, oh := range r.Headers {
		if !IsOwnHeader(oh.Key) {
			h = append(h, oh)
		}
	}
	return kafka.Message{Key: r.Key, Value: r.Value, Headers: h}
}

// FormatTime writes a time as the dead-letter headers carry it: RFC 3339 in UTC with milliseconds; "" for the zero time.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// Header returns the value of the first header named key, and whether there was one.
func Header(headers []kafka.Header, key string) (string, bool) {
	for _, h := range headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}
