package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func ids(t *testing.T, n, users int, seed uint64) map[string]bool {
	t.Helper()
	var b bytes.Buffer
	generate(&b, history{n: n, users: users, seed: seed, idPrefix: fmt.Sprintf("sample-s%d-n%d-u%d-", seed, n, users)})
	out := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal([]byte(l), &m) == nil && m.EventID != "" {
			out[m.EventID] = true
		}
	}
	return out
}

// Two files generated with other flags share no event_id, so the API never deduplicates one
// file's records against the other's; the same flags give the same ids.
func TestFilesDoNotShareEventIDs(t *testing.T) {
	a, b, c := ids(t, 500, 10, 1), ids(t, 500, 10, 2), ids(t, 600, 10, 1)
	if len(a) < 480 {
		t.Fatalf("%d ids in 500 lines", len(a))
	}
	for id := range a {
		if b[id] || c[id] {
			t.Errorf("event_id %s in two files", id)
		}
	}
	if again := ids(t, 500, 10, 1); len(again) != len(a) {
		t.Errorf("not deterministic")
	}
}
