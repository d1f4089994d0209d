package profile

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

const smallMessage = `{"distinct_id":"u-42","event_id":"8d6f3c1e-3f0a-4a39-9a57-5d8e2f0b1c77","operations":[` +
	`{"add_email":"a@example.com"},{"set":{"plan":"pro","seats":5}},{"increment":{"logins":1}},{"unset":["$sms"]}]}`

// largeMessage is about 9 KB: many operations of every kind, most of the size limit.
func largeMessage() string {
	var b strings.Builder
	b.WriteString(`{"distinct_id":"user-with-a-long-identifier-0001","time":"2024-05-01T12:00:00.123Z","operations":[`)
	for i := 0; i < 40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		n := strconv.Itoa(i)
		b.WriteString(`{"add_email":"user` + n + `@example.com"},{"add_androidpush":{"token":"tok-` + n + `","provider":"xiaomi"}},`)
		b.WriteString(`{"set":{"prop` + n + `":"value ` + n + `","nested":{"a":[1,2,3],"b":true}}},{"append":{"$sms":"+1555555` + n + `00"}}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

func BenchmarkDecode(b *testing.B) {
	opts := Options{WorkspaceKey: "WORKSPACE_KEY", UserAgent: "profile-ingest/0.1.0 (go1.26; linux)"}
	origin := Origin{Topic: "profiles", Partition: 1, Offset: 1234567, Timestamp: time.UnixMilli(1700000000000)}
	for _, bc := range []struct{ name, msg string }{
		{"small", smallMessage},
		{"small_no_event_id", strings.Replace(smallMessage, `"event_id":"8d6f3c1e-3f0a-4a39-9a57-5d8e2f0b1c77",`, "", 1)},
		{"large", largeMessage()},
	} {
		value := []byte(bc.msg)
		if ev, err := Decode(value, origin, opts); err != nil {
			b.Fatal(err)
		} else if bc.name == "large" && len(ev.Body) < 8000 {
			b.Fatalf("large event is only %d bytes", len(ev.Body))
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(value)))
			for b.Loop() {
				if _, err := Decode(value, origin, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
