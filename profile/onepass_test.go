package profile

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// onePassSeeds reach the branches of the one-pass path: each shape it writes itself, each it
// leaves to v1Op, and each way it gives up.
var onePassSeeds = []string{
	` { "distinct_id" : " u " , "time" : "2024-01-01T00:00:00.5Z" , "operations" : [ { "set" : { "a" : [ 1 , { "b" : null } ] , "c" : "d e" } } , { "unset" : [ "x" , "y" ] } ] , "event_id" : "e" } `,
	`{"operations":[{"add_androidpush":{"provider":"OPPO","token":"t"}},{"add_iospush":"t"},{"remove_androidpush":{"token":"t","provider":""}}],"distinct_id":"u"}`,
	`{"distinct_id":"u","operations":[{"add_androidpush":{"token":"t","provider":null}},{"add_iospush":{"token":"t","provider":"fcm"}}]}`,
	`{"distinct_id":"u","operations":[{"add_androidpush":{"provider":"fcm"}}]}`,
	`{"distinct_id":"u","operations":[{"add_androidpush":{"token":"t","token":"t"}},{"add_androidpush":{"token":"t","other":1}}]}`,
	`{"distinct_id":"u","operations":[{"append":{"$email":"a@b.co","list":[1],"$sms":"+15555550100"}},{"remove":{"$whatsapp":"+15555550100"}}]}`,
	`{"distinct_id":"u","operations":[{"append":{"$androidpush":"t","$id_provider":"xiaomi"}},{"append":{"$email":" a@b.co"}},{"append":{"k":null}}]}`,
	`{"distinct_id":"u","operations":[{"set":{"$preferred_language":"en","ss_x":1}},{"set":{"k\u00e9":1,"k":2}},{"increment":{"n":-1.5e3,"m":"1"}}]}`,
	`{"distinct_id":"u","operations":[{"set":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17}}]}`,
	`{"distinct_id":"u","operations":[{"set":{"a":1,"a":2}},{"set_once":{" a":1}},{"unset":""},{"unset":[]},{"unset":"k"}]}`,
	`{"distinct_id":"u","operations":[{"set":{"a":1}},{"add_email":"not-an-email"},{"set":{"a":1},"unset":"b"}]}`,
	`{"distinct_id":"u","operations":[{"add_email":"a@b.co"}],"time":1700000000000,"event_id":"e"}`,
	`{"distinct_id":"u","operations":[{"set_timezone":"Europe/Zurich"},{"add_webpush":{"endpoint":"e"}},{"add_slack":{"user_id":"U1"}}]}`,
	`{"distinct_id":"u","operations":[{"add_webpush":{ "endpoint" : "e", "keys":{"auth":"a"} }},{"remove_ms_teams":{"conversation_id":"c"}},{"add_slack":{ }}]}`,
	`{"distinct_id":"u","operations":[{"add_email":{"a":1}}]}`,
	`{"distinct_id":"u","operations":[{"add_sms":{"a":1}},{"add_iospush":{"token":"t"}}]}`,
	`{"distinct_id":"u","operations":[{"set":{"a":tru}}]}`,
	`{"distinct_id":"u","operations":[{"set":{"a":"\ud800"}}],"operations":[]}`,
	`{"distinct_id":"u","$user_operations":[],"env":"WS"}`,
	`{"distinct_id":"u","operations":[]} x`,
	`{"distinct_id":"u","operations":[{"s\u0065t":{"a":1}}]}`,
}

// onePassOnly decodes value with the one-pass path alone; ok is false when it gives up.
func onePassOnly(value []byte, origin Origin, dec *Decoder) (ev Event, ok bool) {
	d := decoderPool.Get().(*decoder)
	defer d.release()
	d.data, d.buf = value, d.buf[:0]
	if ev, ok = d.onePass(origin, dec); ok {
		ev.Body = bytes.Clone(ev.Body)
	}
	return ev, ok
}

// indexedOnly decodes value with the indexed path alone.
func indexedOnly(value []byte, origin Origin, dec *Decoder) (Event, *Error) {
	d := decoderPool.Get().(*decoder)
	defer d.release()
	if e := checkJSONIndex(value, &d.ix); e != nil {
		return Event{}, e
	}
	d.data, d.buf = value, d.buf[:0]
	ev, e := d.decode(origin, dec)
	ev.Body = bytes.Clone(ev.Body)
	return ev, e
}

// sameAsIndexed fails t when the one-pass path accepts value but decodes it otherwise than
// the indexed path, and reports whether it accepted it.
func sameAsIndexed(t *testing.T, value []byte, origin Origin, dec *Decoder) bool {
	t.Helper()
	fast, ok := onePassOnly(value, origin, dec)
	if !ok {
		return false
	}
	slow, e := indexedOnly(value, origin, dec)
	if e != nil {
		t.Fatalf("the one-pass path accepts %q, the indexed path refuses it: %v", value, e)
	}
	if !bytes.Equal(fast.Body, slow.Body) || fast.DistinctID != slow.DistinctID ||
		fast.InsertID != slow.InsertID || !fast.Time.Equal(slow.Time) {
		t.Fatalf("%q decodes otherwise in one pass:\n%+v\nindexed:\n%+v", value, fast, slow)
	}
	return true
}

// TestOnePassTakesUsualMessages: the messages publishers send (the builder's, the
// benchmark's, the vectors') are decoded in one pass, and exactly as the indexed path
// decodes them. Were they not, decoding would silently take twice the time.
func TestOnePassTakesUsualMessages(t *testing.T) {
	dec, err := NewDecoder(Options{WorkspaceKey: "WS", UserAgent: "profile-ingest/test"})
	if err != nil {
		t.Fatal(err)
	}
	origin := Origin{Topic: "t", Partition: 1, Offset: 2, Timestamp: time.UnixMilli(1700000000000)}
	msgs := []string{smallMessage, largeMessage(), paddedMessage()}
	for _, tc := range vectorCases {
		msgs = append(msgs, tc.message)
	}
	for _, m := range msgs {
		if !sameAsIndexed(t, []byte(m), origin, dec) {
			t.Errorf("not decoded in one pass: %s", m)
		}
	}
	// A message it gives up on is still decoded, by the indexed path.
	taken := 0
	for _, m := range onePassSeeds {
		if sameAsIndexed(t, []byte(m), origin, dec) {
			taken++
		}
	}
	if taken == 0 || taken == len(onePassSeeds) {
		t.Errorf("the one-pass path takes %d of %d seeds; they are meant to reach both paths", taken, len(onePassSeeds))
	}
}

// FuzzPlainEmail: for a plain string's contents, plainEmail agrees with checkEmail.
func FuzzPlainEmail(f *testing.F) {
	for _, s := range []string{"a@b.co", "@a@b.co", "a@.co", "a@b.c.", "a b@c.de", "ab@cd", "a@b@c.de",
		"x@y.zz" + strings.Repeat("z", 121), "x@y.zz" + strings.Repeat("z", 122), "a.b@cd", ".@a.bc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if end, plain, ok := scanString([]byte(`"`+s+`"`), 0); !ok || !plain || end != len(s)+2 {
			return
		}
		if got, want := plainEmail([]byte(s)), checkEmail([]byte(s)) == ""; got != want {
			t.Fatalf("plainEmail(%q) = %v, checkEmail says %v", s, got, want)
		}
	})
}
