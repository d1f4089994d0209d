package profile

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// MaxEventBytes is the largest identity event SuprSend accepts, measured on the exact bytes
// sent (the SDKs allow 10240 and refuse 10241).
const MaxEventBytes = 10240

// Origin is where a message came from: its Kafka record.
type Origin struct {
	Topic     string
	Partition int
	Offset    int64
	Timestamp time.Time // the record's timestamp: the event's $time when the message has none
	// InsertID is the $insert_id an earlier delivery of this record was sent with, read from
	// its InsertIDHeader: a dead letter replayed by `profile-ingest dlq replay` carries it, so
	// a record whose first delivery did reach the API (its answer lost) is not applied twice.
	// It stands in for InsertIDFor(o) when the message has no event_id. Empty: none.
	InsertID string
	// Key is the record's key. Decode ignores it; the Debezium decoder of package
	// profile/mapping derives its $insert_id from it (the row's primary key).
	Key []byte
}

// InsertIDHeader is the Kafka header that carries Origin.InsertID: the dead-letter topic
// writes it, `dlq replay` keeps it, the worker reads it.
const InsertIDHeader = "profile-ingest-insert-id"

// Options are what a Decoder needs besides the messages; NewDecoder checks them.
type Options struct {
	// WorkspaceKey is the SuprSend workspace key, sent as the event's "env". Required.
	WorkspaceKey string
	// UserAgent names this worker and its version, sent as properties.$ss_sdk_version.
	// Required; the worker passes buildinfo.UserAgent().
	UserAgent string
}

// Validate reports the first field of o that is unusable.
func (o Options) Validate() error {
	switch {
	case o.WorkspaceKey == "":
		return errors.New("profile: Options.WorkspaceKey is empty")
	case !printable(o.WorkspaceKey):
		return errors.New("profile: Options.WorkspaceKey has a space or control character")
	case o.UserAgent == "":
		return errors.New("profile: Options.UserAgent is empty")
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// Event is the SuprSend identity event a message becomes.
type Event struct {
	DistinctID string    // trimmed
	InsertID   string    // $insert_id: the message's event_id, or a UUIDv5 of its Origin
	Time       time.Time // $time, to the millisecond
	Body       []byte    // the exact compact JSON object that will be sent; len(Body) <= MaxEventBytes
}

// InsertIDNamespace is the UUIDv5 namespace of derived $insert_ids: InsertIDFor(o) is
// uuid.NewSHA1(InsertIDNamespace, "<topic>/<partition>/<offset>"). It is
// uuid.NewSHA1(uuid.NameSpaceURL, "https://github.com/profile-ingest/profile-ingest/insert-id")
// and must never change: a replay after an upgrade must send the same ids.
var InsertIDNamespace = uuid.MustParse("0013f0dc-3533-5c5a-942a-4c7f359e009c")

// InsertIDFor returns the $insert_id of a message without an event_id read from o.
func InsertIDFor(o Origin) string {
	// uuid.NewSHA1(InsertIDNamespace, name).String() without its allocations: SHA-1 of the
	// namespace and the name, version 5, RFC 4122 variant, in the canonical form.
	var b [16 + 128]byte
	in := append(b[:0], InsertIDNamespace[:]...)
	in = append(in, o.Topic...)
	in = append(in, '/')
	in = strconv.AppendInt(in, int64(o.Partition), 10)
	in = append(in, '/')
	in = strconv.AppendInt(in, o.Offset, 10)
	sum := sha1.Sum(in)
	sum[6] = sum[6]&0x0f | 0x50
	sum[8] = sum[8]&0x3f | 0x80
	var out [36]byte
	j := 0
	for i, c := range sum[:16] {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexDigits[c>>4], hexDigits[c&0xf]
		j += 2
	}
	return string(out[:])
}

// maxTimeMillis is 9999-12-31T23:59:59.999Z.
const maxTimeMillis = 253402300799999

// maxEventIDBytes bounds a message's event_id.
const maxEventIDBytes = 255

func parseTime(v []byte, field string) (int64, *Error) {
	switch v[0] {
	case '"':
		s := unquote(v)
		t, err := time.Parse(time.RFC3339Nano, string(s))
		if err != nil {
			return 0, messageErr(field, quote(s)+" is not an RFC 3339 time (e.g. \"2024-05-01T12:00:00Z\") or epoch milliseconds")
		}
		ms := t.UnixMilli()
		if ms < 0 || ms > maxTimeMillis {
			return 0, messageErr(field, quote(s)+" is out of range: it must lie between 1970 and 9999")
		}
		return ms, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		ms, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || ms < 0 || ms > maxTimeMillis {
			return 0, messageErr(field, quote(v)+" is not epoch milliseconds: a whole number from 0 to "+strconv.Itoa(maxTimeMillis))
		}
		return ms, nil
	}
	return 0, messageErr(field, "must be an RFC 3339 time string or epoch milliseconds, got "+kindName(v))
}

// String shows the event for logs: its ids and size, never its body.
func (e Event) String() string {
	return fmt.Sprintf("event{distinct_id=%q insert_id=%s time=%s bytes=%d}", e.DistinctID, e.InsertID,
		e.Time.UTC().Format(time.RFC3339Nano), len(e.Body))
}
