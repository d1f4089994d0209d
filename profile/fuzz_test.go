package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecode checks that Decode never panics, returns only *Error, and that every event it
// accepts is compact valid JSON within the size limit that decodes back to itself; and that a
// message the one-pass path accepts is decoded as the indexed path decodes it.
func FuzzDecode(f *testing.F) {
	for _, tc := range vectorCases {
		f.Add([]byte(tc.message))
	}
	for _, tc := range rejectCases {
		if len(tc.message) < 4096 {
			f.Add([]byte(tc.message))
		}
	}
	f.Add([]byte(smallMessage))
	f.Add([]byte(`{"distinct_id":"u","$user_operations":[{"$append":{"$androidpush":"t","$pushvendor":"xiaomi"},"$unset":["a"]}],"$time":1,"env":"WS"}`))
	f.Add([]byte(`{"distinct_id":"u","operations":[{"append":{"$webpush":{"endpoint":"e"},"$id_provider":"VAPID"}},{"remove":{"$slack":{"user_id":"U1"}}}],"time":"2024-01-01T00:00:00Z","event_id":"e1"}`))
	f.Add([]byte(`{"distinct_id":"\u00a0u\u2028","operations":[{"set":{"k\ud83d\ude00":"\ud800","a":[{"b":{}}]}}]}`))
	for _, m := range onePassSeeds {
		f.Add([]byte(m))
	}
	opts := Options{WorkspaceKey: "WS", UserAgent: "profile-ingest/fuzz"}
	origin := Origin{Topic: "t", Partition: 1, Offset: 2, Timestamp: time.UnixMilli(1700000000000)}
	dec, err := NewDecoder(opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		// checkJSON must agree with the standard library, depth limit aside.
		if e := checkJSON(value); (e == nil) != (utf8.Valid(value) && json.Valid(value)) && !strings.Contains(errString(e), "nested deeper") {
			t.Fatalf("checkJSON = %v, encoding/json disagrees on %q", e, value)
		}
		if got, want := errText(checkJSON(value)), errText(refCheckJSON(value)); got != want {
			t.Fatalf("checkJSON = %q, the recursive reference %q on %q", got, want, value)
		}
		checkIndex(t, value)
		sameAsIndexed(t, value, origin, dec)
		ev, err := dec.Decode(value, origin)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason == "" || e.Msg == "" {
				t.Fatalf("bad error %T %v", err, err)
			}
			if ev.Body != nil {
				t.Fatal("body with an error")
			}
			return
		}
		if len(ev.Body) > MaxEventBytes || !json.Valid(ev.Body) {
			t.Fatalf("bad body %q", ev.Body)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, ev.Body); err != nil || !bytes.Equal(buf.Bytes(), ev.Body) {
			t.Fatalf("body is not compact: %s", ev.Body)
		}
		again, err := dec.Decode(ev.Body, Origin{})
		if err != nil {
			t.Fatalf("the event is refused as input: %v\n%s\n(from %q)", err, ev.Body, value)
		}
		if !bytes.Equal(again.Body, ev.Body) {
			t.Fatalf("not a fixed point:\n%s\n%s", ev.Body, again.Body)
		}
	})
}

// checkIndex checks the index of a valid text against a plain scan: every '{' and '[', and
// every string in at most maxStringDepth containers, is recorded in order with the offset just
// past its closing quote or bracket; endOf finds the end of every string and container, asked
// in order and backwards.
func checkIndex(t *testing.T, data []byte) {
	var ix valueIndex
	if checkJSONIndex(data, &ix) != nil {
		return
	}
	var starts, open, all []int
	ends := map[int]int{}
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			if len(open) <= maxStringDepth {
				starts = append(starts, i)
			}
			all = append(all, i)
			j := i + 1
			for data[j] != '"' {
				if data[j] == '\\' {
					j++
				}
				j++
			}
			ends[i] = j + 1
			i = j
		case '{', '[':
			starts = append(starts, i)
			all = append(all, i)
			open = append(open, i)
		case '}', ']':
			ends[open[len(open)-1]] = i + 1
			open = open[:len(open)-1]
		}
	}
	// spaced: white space between tokens, inside the top-level value.
	spaced := false
	inner := bytes.TrimFunc(data, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	for i := 0; i < len(inner); i++ {
		if inner[i] == '"' {
			for i++; inner[i] != '"'; i++ {
				if inner[i] == '\\' {
					i++
				}
			}
		} else if isWS(inner[i]) {
			spaced = true
		}
	}
	if ix.spaced != spaced {
		t.Fatalf("index says spaced=%v, the text %v: %q", ix.spaced, spaced, data)
	}
	if len(starts) != len(ix.vals) {
		t.Fatalf("index has %d values, the text %d: %q", len(ix.vals), len(starts), data)
	}
	for k, s := range starts {
		if ix.vals[k].start != s || ix.vals[k].end != ends[s] {
			t.Fatalf("value %d: index [%d, %d); the text [%d, %d): %q", k, ix.vals[k].start, ix.vals[k].end, s, ends[s], data)
		}
	}
	backward := slices.Clone(all)
	slices.Reverse(backward)
	for _, order := range [][]int{all, backward} {
		ix.next = 0
		for _, s := range order {
			if got := ix.endOf(data, s); got != ends[s] {
				t.Fatalf("endOf(%d) = %d, the text %d: %q", s, got, ends[s], data)
			}
		}
	}
}

func errText(e *Error) string {
	if e == nil {
		return ""
	}
	return e.Error()
}

// FuzzUTCMillis: the fast reading of a message time agrees with time.Parse(time.RFC3339Nano)
// and UnixMilli on every input it accepts, and accepts the common shapes.
func FuzzUTCMillis(f *testing.F) {
	for _, s := range []string{
		"1970-01-01T00:00:00Z", "2025-01-01T09:00:00Z", "2024-05-01T12:00:00.123Z", "2024-02-29T23:59:59.9Z",
		"2000-02-29T00:00:00.000000001Z", "9999-12-31T23:59:59.999999999Z", "2023-12-31T23:59:59.1234567899Z",
		"2023-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-13-01T00:00:00Z",
		"2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z", "2024-01-01T23:59:60Z", "1969-12-31T23:59:59Z",
		"2024-01-01T00:00:00+02:00", "2024-01-01t00:00:00z", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00,5Z",
		"+024-01-01T00:00:00Z", "2024-01-01T00:00:0xZ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, ok := utcMillis([]byte(s))
		if !ok {
			return
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("%q: read as %d, time.Parse refuses it: %v", s, ms, err)
		}
		if want := tm.UnixMilli(); ms != want {
			t.Fatalf("%q: read as %d, time.Parse gives %d", s, ms, want)
		}
	})
}

// TestUTCMillisReadsCommonShapes: the shapes the fast reading exists for are not left to
// time.Parse.
func TestUTCMillisReadsCommonShapes(t *testing.T) {
	for _, s := range []string{"2025-01-01T09:00:00Z", "2024-02-29T12:00:00.123Z", "1970-01-01T00:00:00.000000001Z", "9999-12-31T23:59:59.999999999Z"} {
		if _, ok := utcMillis([]byte(s)); !ok {
			t.Errorf("%q is left to time.Parse", s)
		}
	}
}

// FuzzLowerIs: lowerIs agrees with strings.ToLower for every provider name.
func FuzzLowerIs(f *testing.F) {
	for _, s := range []string{"FCM", "fcm", "fcmx", "fc", "Xiaomi", "\u212aapns", "OPPO", "vapid\u0130", "ApNs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		for _, name := range []string{"fcm", "xiaomi", "oppo", "apns", "vapid", "k", ""} {
			if got, want := lowerIs([]byte(p), name), strings.ToLower(p) == name; got != want {
				t.Fatalf("lowerIs(%q, %q) = %v, strings.ToLower says %v", p, name, got, want)
			}
		}
	})
}
