package main

import (
	"strings"
	"testing"
)

// withEventID adds the same id on every run, only to v1 lines without one, and keeps the rest
// of the line byte for byte.
func TestWithEventID(t *testing.T) {
	line := []byte(`{"distinct_id":"u-1", "operations":[{"increment":{"n":1}}]}`)
	a, b := withEventID(line, "f.jsonl", 7), withEventID(line, "f.jsonl", 7)
	if string(a) != string(b) || !strings.HasPrefix(string(a), `{"event_id":"`) || !strings.HasSuffix(string(a), `,"distinct_id":"u-1", "operations":[{"increment":{"n":1}}]}`) {
		t.Fatalf("withEventID = %s, then %s", a, b)
	}
	for name, other := range map[string][]byte{
		"another line number": withEventID(line, "f.jsonl", 8),
		"another file":        withEventID(line, "g.jsonl", 7),
		"an edited line":      withEventID([]byte(`{"distinct_id":"u-1","operations":[{"increment":{"n":2}}]}`), "f.jsonl", 7),
	} {
		if string(other[:50]) == string(a[:50]) {
			t.Errorf("%s: same id %s", name, other[:50])
		}
	}
	for _, keep := range []string{
		`{"distinct_id":"u-1","operations":[],"event_id":"mine"}`,
		`{"distinct_id":"u-1","$user_operations":[],"$insert_id":"x"}`,
		`not json`, `[1,2]`,
	} {
		if got := withEventID([]byte(keep), "f", 1); string(got) != keep {
			t.Errorf("withEventID(%s) = %s, want it unchanged", keep, got)
		}
	}
	if got := string(withEventID([]byte(` {}`), "f", 1)); !strings.HasPrefix(got, ` {"event_id":"`) || !strings.HasSuffix(got, `"}`) {
		t.Errorf("empty object: %s", got)
	}
}
