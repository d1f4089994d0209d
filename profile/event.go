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
		if ms, ok := utcMillis(s); ok {
			return ms, nil
		}
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

// utcMillis reads the common shape of a message time, "2006-01-02T15:04:05[.0-9 digits]Z" from
// 1970 on, as epoch milliseconds, as time.Parse(time.RFC3339Nano) and UnixMilli would, without
// their cost per record; ok is false for anything else (an offset, another year, a field out
// of range), which parseTime then gives to time.Parse for its answer and its error.
func utcMillis(s []byte) (ms int64, ok bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return 0, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range s[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d, h, mi, sec := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2)
	if y < 1970 || mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return 0, false
	}
	frac := 0 // milliseconds
	if f := s[19 : len(s)-1]; len(f) > 0 {
		if f[0] != '.' || len(f) < 2 || len(f) > 10 {
			return 0, false
		}
		for i, c := range f[1:] {
			if c < '0' || c > '9' {
				return 0, false
			}
			if i < 3 {
				frac = frac*10 + int(c-'0')
			}
		}
		for i := len(f) - 1; i < 3; i++ {
			frac *= 10
		}
	}
	days := daysSinceEpoch(y, mo, d)
	return ((int64(days)*24+int64(h))*60+int64(mi))*60000 + int64(sec)*1000 + int64(frac), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch counts the days from 1970-01-01 to the given date of the proleptic Gregorian
// calendar (H. Hinnant's days_from_civil).
func daysSinceEpoch(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
