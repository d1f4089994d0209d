package profile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestDecodeEvent(t *testing.T) {
	opts := Options{WorkspaceKey: "WS", UserAgent: "profile-ingest/test"}
	origin := Origin{Topic: "profiles", Partition: 3, Offset: 42, Timestamp: time.UnixMilli(1700000000123)}
	derived := InsertIDFor(origin)
	tests := []struct {
		name     string
		message  string
		wantBody string
		wantTime int64
	}{
		{
			name:     "v1 message, insert id and time from the record",
			message:  `{"distinct_id":"  u-42 ","operations":[{"add_email":" a@example.com "},{"set":{"plan":"pro"}},{"unset":["$sms"]}]}`,
			wantBody: `{"$schema":"2","$insert_id":"` + derived + `","$time":1700000000123,"env":"WS","distinct_id":"u-42","$user_operations":[{"$append":{"$email":"a@example.com"}},{"$set":{"plan":"pro"}},{"$unset":["$sms"]}],"properties":{"$ss_sdk_version":"profile-ingest/test"}}`,
			wantTime: 1700000000123,
		},
		{
			name:     "event_id and RFC 3339 time, fields in any order",
			message:  `{"time":"2024-05-01T12:00:00.5+02:00","operations":[],"event_id":"evt-1","distinct_id":"u"}`,
			wantBody: `{"$schema":"2","$insert_id":"evt-1","$time":1714557600500,"env":"WS","distinct_id":"u","$user_operations":[],"properties":{"$ss_sdk_version":"profile-ingest/test"}}`,
			wantTime: 1714557600500,
		},
		{
			name:     "epoch milliseconds",
			message:  `{"distinct_id":"u","operations":[],"time":1714557600500}`,
			wantBody: `{"$schema":"2","$insert_id":"` + derived + `","$time":1714557600500,"env":"WS","distinct_id":"u","$user_operations":[],"properties":{"$ss_sdk_version":"profile-ingest/test"}}`,
			wantTime: 1714557600500,
		},
		{
			name: "user objects keep their key order and characters; white space dropped",
			message: "{\"distinct_id\":\"u\",\"operations\":[{\"set\" : {\"z\": 1, \"a\" : {\"y\": [1, 2], \"b\": \"<&> \\u00e9\"}, \"m\": null}}," +
				"{\"append\": {\"tags\": \"x y\"}}]}",
			wantBody: `{"$schema":"2","$insert_id":"` + derived + `","$time":1700000000123,"env":"WS","distinct_id":"u","$user_operations":[{"$set":{"z":1,"a":{"y":[1,2],"b":"<&> \u00e9"},"m":null}},{"$append":{"tags":"x y"}}],"properties":{"$ss_sdk_version":"profile-ingest/test"}}`,
			wantTime: 1700000000123,
		},
		{
			name:     "escaped keys are decoded, trimmed and re-encoded without HTML escaping",
			message:  `{"distinct_id":"u\u003c1\u003e","operations":[{"set":{" \u0041b ":"<b>"}},{"set_preferred_language":"\u0065n"}]}`,
			wantBody: `{"$schema":"2","$insert_id":"` + derived + `","$time":1700000000123,"env":"WS","distinct_id":"u<1>","$user_operations":[{"$set":{"Ab":"<b>"}},{"$set":{"$preferred_language":"en"}}],"properties":{"$ss_sdk_version":"profile-ingest/test"}}`,
			wantTime: 1700000000123,
		},
		{
			name:     "providers: lower-cased, defaulted, $pushvendor renamed, provider put after the token",
			message:  `{"distinct_id":"u","operations":[{"add_androidpush":{"provider":"XIAOMI","token":"t1"}},{"add_iospush":{"token":"t2"}},{"remove":{"$pushvendor":"oppo","$androidpush":"t3","tags":"a"}}]}`,
			wantBody: `{"$schema":"2","$insert_id":"` + derived + `","$time":1700000000123,"env":"WS","distinct_id":"u","$user_operations":[{"$append":{"$androidpush":"t1","$id_provider":"xiaomi"}},{"$append":{"$iospush":"t2","$id_provider":"apns"}},{"$remove":{"$androidpush":"t3","$id_provider":"oppo","tags":"a"}}],"properties":{"$ss_sdk_version":"profile-ingest/test"}}`,
			wantTime: 1700000000123,
		},
		{
			name:     "identity event: missing env, $insert_id and $time filled, properties replaced",
			message:  `{"distinct_id":"u","$user_operations":[{"$set":{"a":1},"$unset":["b"]}],"properties":{"$ss_sdk_version":"suprsend/0.12.0;python/3.11.7"}}`,
			wantBody: `{"$schema":"2","$insert_id":"` + derived + `","$time":1700000000123,"env":"WS","distinct_id":"u","$user_operations":[{"$set":{"a":1},"$unset":["b"]}],"properties":{"$ss_sdk_version":"profile-ingest/test"}}`,
			wantTime: 1700000000123,
		},
		{
			// The Go SDK 0.5.0 marshals a user without operations as null: no operations.
			name:     "identity event: $user_operations null, as the Go SDK sends a user without operations",
			message:  `{"$schema":"2","$insert_id":"go-1","$time":1700000000000,"env":"WS","distinct_id":"u","$user_operations":null,"properties":{"$ss_sdk_version":"suprsend-go/0.5.0"}}`,
			wantBody: `{"$schema":"2","$insert_id":"go-1","$time":1700000000000,"env":"WS","distinct_id":"u","$user_operations":[],"properties":{"$ss_sdk_version":"profile-ingest/test"}}`,
			wantTime: 1700000000000,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := decodeWith([]byte(tc.message), origin, opts)
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if string(ev.Body) != tc.wantBody {
				t.Errorf("body\n got %s\nwant %s", ev.Body, tc.wantBody)
			}
			if ev.Time.UnixMilli() != tc.wantTime {
				t.Errorf("Time = %d, want %d", ev.Time.UnixMilli(), tc.wantTime)
			}
			if !strings.Contains(string(ev.Body), `"$insert_id":"`+ev.InsertID+`"`) {
				t.Errorf("InsertID %q is not the body's", ev.InsertID)
			}
			if !strings.Contains(string(ev.Body), `"distinct_id":"`+ev.DistinctID+`"`) {
				t.Errorf("DistinctID %q is not the body's", ev.DistinctID)
			}
		})
	}
}

func TestInsertIDIsDeterministic(t *testing.T) {
	// The namespace is documented as a UUIDv5 of a fixed URL; changing it would make replays
	// after an upgrade send new ids.
	if got := InsertIDNamespace.String(); got != "0013f0dc-3533-5c5a-942a-4c7f359e009c" {
		t.Fatalf("namespace changed: %s", got)
	}
	o := Origin{Topic: "profiles", Partition: 3, Offset: 42}
	if got, want := InsertIDFor(o), "1c34d336-6e57-5930-940a-1f86b284606d"; got != want {
		t.Errorf("InsertIDFor(profiles/3/42) = %s, want %s", got, want)
	}
	// InsertIDFor is uuid.NewSHA1 of "<topic>/<partition>/<offset>", also for long topics.
	for _, o := range []Origin{{Topic: "t", Partition: 0, Offset: 0}, {Topic: "profiles", Partition: 1023, Offset: 1<<63 - 1},
		{Topic: strings.Repeat("topic.", 41) + "x", Partition: 7, Offset: -1}, {Topic: "π/ü", Partition: -1, Offset: 9}} {
		name := o.Topic + "/" + strconv.Itoa(o.Partition) + "/" + strconv.FormatInt(o.Offset, 10)
		if got, want := InsertIDFor(o), uuid.NewSHA1(InsertIDNamespace, []byte(name)).String(); got != want {
			t.Errorf("InsertIDFor(%s) = %s, uuid.NewSHA1 gives %s", name, got, want)
		}
	}
	msg := []byte(`{"distinct_id":"u","operations":[{"increment":{"n":1}}]}`)
	a, _ := decodeWith(msg, Origin{Topic: "p", Partition: 1, Offset: 7, Timestamp: time.Unix(1, 0)}, testOpts)
	b, _ := decodeWith(msg, Origin{Topic: "p", Partition: 1, Offset: 7, Timestamp: time.Unix(1, 0)}, testOpts)
	c, _ := decodeWith(msg, Origin{Topic: "p", Partition: 1, Offset: 8, Timestamp: time.Unix(1, 0)}, testOpts)
	if string(a.Body) != string(b.Body) {
		t.Error("a replay of the same record gives a different event")
	}
	if a.InsertID == c.InsertID {
		t.Error("two records share an $insert_id")
	}
}

// A replayed dead letter carries the $insert_id its first delivery was sent with: it stands in
// for the id derived from its new offset, but never for the message's own event_id; a carried
// id that is not one is refused naming the header.
func TestCarriedInsertID(t *testing.T) {
	replayed := Origin{Topic: "p", Partition: 0, Offset: 900, Timestamp: time.Unix(1, 0), InsertID: "first-delivery-id"}
	noID := []byte(`{"distinct_id":"u","operations":[{"increment":{"n":1}}]}`)
	ev, err := decodeWith(noID, replayed, testOpts)
	if err != nil || ev.InsertID != "first-delivery-id" || !strings.Contains(string(ev.Body), `"$insert_id":"first-delivery-id"`) {
		t.Errorf("replayed record without event_id: id %q, body %s, err %v; want the carried id", ev.InsertID, ev.Body, err)
	}
	withID := []byte(`{"distinct_id":"u","operations":[{"increment":{"n":1}}],"event_id":"e-1"}`)
	if ev, err := decodeWith(withID, replayed, testOpts); err != nil || ev.InsertID != "e-1" {
		t.Errorf("replayed record with event_id: id %q, err %v; want the event_id", ev.InsertID, err)
	}
	for id, want := range map[string]string{
		"  ":                     `header profile-ingest-insert-id: must be a non-empty string, got "  "`,
		strings.Repeat("x", 256): `header profile-ingest-insert-id: "xxx`,
		"\xff":                   "header profile-ingest-insert-id: is not valid UTF-8",
	} {
		o := replayed
		o.InsertID = id
		_, err := decodeWith(noID, o, testOpts)
		var perr *Error
		if !errors.As(err, &perr) || perr.Reason != ReasonInvalidMessage || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("carried id %q: err %v, want invalid_message %q", id, err, want)
		}
	}
}

func TestSizeLimit(t *testing.T) {
	// pad grows the event one byte at a time; find the sizes around the limit.
	base := `{"distinct_id":"u","operations":[{"set":{"pad":"`
	for _, size := range []int{MaxEventBytes, MaxEventBytes + 1} {
		ev, err := decodeWith([]byte(base+`"}}]}`), testOrigin, testOpts)
		if err != nil {
			t.Fatal(err)
		}
		pad := strings.Repeat("x", size-len(ev.Body))
		ev, err = decodeWith([]byte(base+pad+`"}}]}`), testOrigin, testOpts)
		if size == MaxEventBytes {
			if err != nil || len(ev.Body) != MaxEventBytes {
				t.Errorf("an event of exactly %d bytes: len %d, err %v", MaxEventBytes, len(ev.Body), err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReasonTooLarge ||
			e.Error() != "the event is 10241 bytes as it would be sent, over the limit of 10240" {
			t.Errorf("an event of 10241 bytes: got %v", err)
		}
	}
}

func TestLanguageCodesMatchReference(t *testing.T) {
	path := filepath.Join("..", "..", "shared", "reference", "lang_codes.txt")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		t.Skipf("SKIP: %s is absent", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(string(b))
	got := LanguageCodes()
	if len(want) != 183 || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("language codes differ from %s: got %d, want %d", path, len(got), len(want))
	}
	for _, c := range want {
		if !validLanguage([]byte(c)) {
			t.Errorf("%q refused", c)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"ok", Options{WorkspaceKey: "k", UserAgent: "ua"}, ""},
		{"no workspace key", Options{UserAgent: "ua"}, "profile: Options.WorkspaceKey is empty"},
		{"space in workspace key", Options{WorkspaceKey: "a b", UserAgent: "ua"}, "profile: Options.WorkspaceKey has a space or control character"},
		{"no user agent", Options{WorkspaceKey: "k"}, "profile: Options.UserAgent is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if got := errString(err); got != tc.want {
				t.Fatalf("Validate() = %q, want %q", got, tc.want)
			}
			dec, nerr := NewDecoder(tc.opts)
			if got := errString(nerr); got != tc.want || (dec == nil) != (nerr != nil) {
				t.Fatalf("NewDecoder() = %v, %q; want the error %q", dec, got, tc.want)
			}
		})
	}
}

// decodeWith decodes value with a Decoder for opts, or returns NewDecoder's error.
func decodeWith(value []byte, origin Origin, opts Options) (Event, error) {
	dec, err := NewDecoder(opts)
	if err != nil {
		return Event{}, err
	}
	return dec.Decode(value, origin)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestV1OpSpec keeps the switch of v1OpSpec and the list of operations in step.
func TestV1OpSpec(t *testing.T) {
	for i := range v1OpList {
		if got := v1OpSpec([]byte(v1OpList[i].name)); got != &v1OpList[i] {
			t.Errorf("v1OpSpec(%q) = %v, want entry %d", v1OpList[i].name, got, i)
		}
	}
	if got := v1OpSpec([]byte("sett")); got != nil {
		t.Errorf("v1OpSpec(sett) = %v, want nil", got)
	}
}

// TestNotPlain8 checks the 8-byte test against the byte table: every pair of bytes in every
// pair of positions, the first byte that is not plain found.
func TestNotPlain8(t *testing.T) {
	for c := range 256 {
		for pos := range 8 {
			for c2 := range 256 {
				b := []byte("abcdefgh")
				b[pos], b[7-pos] = byte(c2), byte(c)
				x := binary.LittleEndian.Uint64(b)
				want := 8
				for k := range 8 {
					if !strPlain[b[k]] {
						want = k
						break
					}
				}
				got := 8
				if m := notPlain8(x); m != 0 {
					got = bits.TrailingZeros64(m) >> 3
				}
				if got != want {
					t.Fatalf("notPlain8(%q) finds byte %d, want %d", b, got, want)
				}
			}
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			x := binary.LittleEndian.Uint64(b)
			if got := load64(string(b), 0); got != x {
				t.Fatalf("load64(%q) = %#x, want %#x", b, got, x)
			}
		}
	}
}

// TestDecodeTo checks that DecodeTo gives Decode's event, in the storage of the buffer passed
// when it is large enough, without allocating a body.
func TestDecodeTo(t *testing.T) {
	dec, err := NewDecoder(testOpts)
	if err != nil {
		t.Fatal(err)
	}
	origin := Origin{Topic: "p", Partition: 1, Offset: 7, Timestamp: time.Unix(1, 0)}
	msg := []byte(smallMessage)
	// An event much larger than its message: DecodeTo writes into a buffer with the usual room
	// past the message's length, and the event outgrows it.
	grows := []byte(`{"distinct_id":"u","operations":[` + strings.Repeat(`{"add_email":"a@b.co"},`, 60) + `{"add_email":"a@b.co"}]}`)
	buf := make([]byte, 0, 4096)
	for _, m := range [][]byte{msg, grows} {
		want, err := dec.Decode(m, origin)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range [][]byte{nil, buf, buf[:10], make([]byte, 0, 8), make([]byte, 0, len(m)+directRoom), make([]byte, 0, len(want.Body))} {
			got, err := dec.DecodeTo(b, m, origin)
			if err != nil || string(got.Body) != string(want.Body) || got.DistinctID != want.DistinctID || got.InsertID != want.InsertID {
				t.Fatalf("DecodeTo(cap %d) = %s, %v; Decode gives %s", cap(b), got.Body, err, want.Body)
			}
			if shared := cap(b) >= len(want.Body) && &got.Body[0] == &b[:1][0]; shared != (cap(b) >= len(want.Body)) {
				t.Errorf("DecodeTo(cap %d): body in the buffer's storage = %v", cap(b), shared)
			}
		}
		if len(want.Body) <= len(m)+directRoom && len(m) == len(grows) {
			t.Fatalf("the event of %d bytes does not outgrow its message's %d + %d", len(want.Body), len(m), directRoom)
		}
	}
	if _, err := dec.DecodeTo(buf, []byte(`{"distinct_id":1}`), origin); err == nil {
		t.Fatal("no error for a bad message")
	}
	if raceEnabled {
		return
	}
	allocs := func(f func()) float64 { return testing.AllocsPerRun(100, f) }
	decode := allocs(func() { _, _ = dec.Decode(msg, origin) })
	into := allocs(func() { _, _ = dec.DecodeTo(buf, msg, origin) })
	if into != decode-1 {
		t.Errorf("DecodeTo allocates %v times, Decode %v: want one less (the body)", into, decode)
	}
}

// TestTooLargeCountsEveryOperation: past MaxEventBytes the output is no longer kept, but the
// size in the error is the whole event's, and a later bad operation is still reported.
func TestTooLargeCountsEveryOperation(t *testing.T) {
	value := strings.Repeat("v", 500)
	op := `{"set":{"k":"` + value + `"}}`
	out := len(`{"$set":{"k":"` + value + `"}}`) // each operation's element in the event
	msg := func(ops ...string) []byte {
		return []byte(`{"distinct_id":"u","event_id":"e","operations":[` + strings.Join(ops, ",") + `]}`)
	}
	one, err := decodeWith(msg(op), Origin{}, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	const k = 200 // about 100 KB of event
	ops := make([]string, k)
	for i := range ops {
		ops[i] = op
	}
	want := len(one.Body) + (k-1)*(out+1)
	_, err = decodeWith(msg(ops...), Origin{}, testOpts)
	if got := errString(err); got != "the event is "+strconv.Itoa(want)+" bytes as it would be sent, over the limit of 10240" {
		t.Errorf("got %q, want the size %d", got, want)
	}
	ops[k-1] = `{"add_email":"not an email"}`
	_, err = decodeWith(msg(ops...), Origin{}, testOpts)
	if got := errString(err); got != `operations[199].add_email: "not an email" is not a valid email` {
		t.Errorf("a bad operation past the limit: got %q", got)
	}
}

// TestDecoderConcurrentUse decodes the vectors and the benchmark messages from several
// goroutines at once, each with its own DecodeTo buffer, and expects what one goroutine gets:
// the pooled scratch space is never shared between calls. Run with -race.
func TestDecoderConcurrentUse(t *testing.T) {
	dec, err := NewDecoder(testOpts)
	if err != nil {
		t.Fatal(err)
	}
	msgs := [][]byte{[]byte(smallMessage), []byte(largeMessage()), []byte(hugeMessage())}
	for _, tc := range vectorCases {
		msgs = append(msgs, []byte(tc.message))
	}
	for _, tc := range rejectCases {
		msgs = append(msgs, []byte(tc.message))
	}
	origin := Origin{Topic: "t", Partition: 1, Offset: 2, Timestamp: time.UnixMilli(1700000000000)}
	want := make([]string, len(msgs))
	for i, m := range msgs {
		ev, err := dec.Decode(m, origin)
		want[i] = string(ev.Body) + errString(err)
	}
	const workers = 8
	errs := make(chan string, workers)
	for w := range workers {
		go func() {
			var buf []byte
			for round := range 20 {
				for k := range msgs {
					i := (k + w + round) % len(msgs)
					ev, err := dec.DecodeTo(buf, msgs[i], origin)
					if got := string(ev.Body) + errString(err); got != want[i] {
						errs <- fmt.Sprintf("worker %d, message %d: %.200s, alone: %.200s", w, i, got, want[i])
						return
					}
					if err == nil {
						buf = ev.Body
					}
				}
			}
			errs <- ""
		}()
	}
	for range workers {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
