package profile

import (
	"encoding/json"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const smallMessage = `{"distinct_id":"u-42","event_id":"8d6f3c1e-3f0a-4a39-9a57-5d8e2f0b1c77","operations":[` +
	`{"add_email":"a@example.com"},{"set":{"plan":"pro","seats":5}},{"increment":{"logins":1}},{"unset":["$sms"]}]}`

// largeMessage is about 7.7 KB: many operations of every kind, most of the size limit.
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

// paddedMessage is about 8 KB shaped like the pipeline benchmark's large records (deploy/demo/gen
// -size 8000): a channel operation and set operations of nested attributes, ~150 B each.
func paddedMessage() string {
	var b strings.Builder
	b.WriteString(`{"distinct_id":"user-003","event_id":"sample-s7-n50-u5-z8000-000019","operations":[`)
	b.WriteString(`{"add_androidpush":{"provider":"xiaomi","token":"xiaomi-token-3"}}`)
	for k := 0; b.Len() < 8000; k++ {
		n := strconv.Itoa(k)
		b.WriteString(`,{"set":{"attr_` + n + `":{"label":"attribute ` + n + ` of record 19","nested":{"enabled":true,` +
			`"note":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},"score":` + n + `,"tags":["alpha","beta","gamma"]}}}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

// hugeMessage is about 64 KB of set operations whose values nest eight levels deep: the
// event would be over MaxEventBytes, so Decode walks all of it and then rejects it as too_large.
// It shows that decoding is linear in the input however deep its values nest.
func hugeMessage() string {
	var b strings.Builder
	b.WriteString(`{"distinct_id":"user-with-a-long-identifier-0001","operations":[`)
	for i := 0; b.Len() < 64<<10; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		n := strconv.Itoa(i)
		b.WriteString(`{"set":{"profile` + n + `":`)
		for d := 0; d < 8; d++ {
			b.WriteString(`{"level` + strconv.Itoa(d) + `":[true,` + n + `,"text of the value at this level"],"next":`)
		}
		b.WriteString(`null` + strings.Repeat("}", 8) + `}}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

func BenchmarkDecode(b *testing.B) {
	dec, err := NewDecoder(Options{WorkspaceKey: "WORKSPACE_KEY", UserAgent: "profile-ingest/0.1.0 (go1.26; linux)"})
	if err != nil {
		b.Fatal(err)
	}
	origin := Origin{Topic: "profiles", Partition: 1, Offset: 1234567, Timestamp: time.UnixMilli(1700000000000)}
	for _, bc := range []struct{ name, msg string }{
		{"small", smallMessage},
		{"small_no_event_id", strings.Replace(smallMessage, `"event_id":"8d6f3c1e-3f0a-4a39-9a57-5d8e2f0b1c77",`, "", 1)},
		{"large", largeMessage()},
		{"padded", paddedMessage()},
		{"huge_too_large", hugeMessage()},
	} {
		value := []byte(bc.msg)
		want := Reason("")
		if bc.name == "huge_too_large" {
			want = ReasonTooLarge
		}
		check := func(b *testing.B, err error) {
			if err == nil && want == "" {
				return
			}
			if e, ok := err.(*Error); !ok || e.Reason != want {
				b.Fatalf("%s: got %v, want reason %q", bc.name, err, want)
			}
		}
		ev, err := dec.Decode(value, origin)
		check(b, err)
		if bc.name == "large" && len(ev.Body) < 7000 {
			b.Fatalf("large event is only %d bytes", len(ev.Body))
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(value)))
			cpu := startCPU()
			for b.Loop() {
				_, err := dec.Decode(value, origin)
				check(b, err)
			}
			cpu.report(b, len(value))
		})
		if bc.name == "huge_too_large" {
			continue
		}
		// DecodeTo with the last body's storage, as a caller that copies the body out does.
		b.Run(bc.name+"_reused", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(value)))
			var buf []byte
			cpu := startCPU()
			for b.Loop() {
				ev, err := dec.DecodeTo(buf, value, origin)
				check(b, err)
				buf = ev.Body
			}
			cpu.report(b, len(value))
		})
	}
}

// cpuClock measures the process's CPU time (user + system) over a benchmark loop. On a shared
// machine wall time mostly measures the neighbours; CPU time is what the worker pays.
type cpuClock struct{ start time.Duration }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock{cpuTime()} }

// report adds cpu-ns/op and MB/s of CPU time (MB/s-cpu) to the benchmark's results.
func (c cpuClock) report(b *testing.B, bytes int) {
	d := cpuTime() - c.start
	if d <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(bytes)*float64(b.N)/d.Seconds()/1e6, "MB/s-cpu")
}

// BenchmarkValidReference is the floor Decode is measured against in the same run:
// encoding/json's Valid over the same messages (validation only, no output).
func BenchmarkValidReference(b *testing.B) {
	for _, bc := range []struct{ name, msg string }{
		{"small", smallMessage}, {"large", largeMessage()}, {"padded", paddedMessage()}, {"huge_too_large", hugeMessage()},
	} {
		value := []byte(bc.msg)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(value)))
			cpu := startCPU()
			for b.Loop() {
				if !json.Valid(value) {
					b.Fatal("invalid")
				}
			}
			cpu.report(b, len(value))
		})
	}
}

// BenchmarkCheckJSON measures the validating pass alone (checkJSONIndex), the floor of Decode.
func BenchmarkCheckJSON(b *testing.B) {
	for _, bc := range []struct{ name, msg string }{
		{"small", smallMessage}, {"large", largeMessage()}, {"padded", paddedMessage()}, {"huge_too_large", hugeMessage()},
	} {
		value := []byte(bc.msg)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(value)))
			var ix valueIndex
			cpu := startCPU()
			for b.Loop() {
				if e := checkJSONIndex(value, &ix); e != nil {
					b.Fatal(e)
				}
			}
			cpu.report(b, len(value))
		})
	}
}
