package hubsim

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// TestOperationsScript applies a scripted sequence using every operation of the seed and checks
// the profile against what the seed's semantics say.
func TestOperationsScript(t *testing.T) {
	s := newTestServer(t, nil)
	e1 := ev("alice", "e1",
		`{"$append":{"$email":"a@example.com"}}`,
		`{"$append":{"$email":"b@example.com"}}`,
		`{"$append":{"$sms":"+15555550100"}}`,
		`{"$append":{"$whatsapp":"+15555550101"}}`,
		`{"$append":{"$androidpush":"tokA","$pushvendor":"xiaomi"}}`,
		`{"$append":{"$androidpush":"tokB","$id_provider":"fcm"}}`,
		`{"$append":{"$iospush":"tokI","$id_provider":"apns"}}`,
		`{"$append":{"$webpush":{"endpoint":"https://push.example.com/1"},"$id_provider":"vapid"}}`,
		`{"$append":{"$slack":{"user_id":"U1","access_token":"xoxb-1"}}}`,
		`{"$append":{"$ms_teams":{"tenant_id":"t1","user_id":"29:1"}}}`,
		`{"$set":{"name":"Alice","plan":"pro"}}`,
		`{"$set_once":{"first_seen":"2024-01-01"}}`,
		`{"$add":{"logins":1}}`,
		`{"$append":{"tags":"vip"}}`,
		`{"$set":{"$preferred_language":"en"}}`,
		`{"$set":{"$timezone":"UTC"}}`)
	e2 := ev("alice", "e2",
		`{"$append":{"$email":"a@example.com"}}`, // already there: no change
		`{"$remove":{"$email":"b@example.com"}}`,
		`{"$remove":{"$androidpush":"tokA","$id_provider":"xiaomi"}}`,
		`{"$set_once":{"first_seen":"2025-05-05"}}`, // already set: no change
		`{"$set":{"plan":"enterprise"}}`,
		`{"$add":{"logins":2,"credits":-1.5}}`,
		`{"$append":{"tags":"new"}}`,
		`{"$append":{"tags":"old"}}`,
		`{"$remove":{"tags":"vip"}}`,
		`{"$unset":["$sms"]}`,
		`{"$unset":["plan"]}`)
	e4 := ev("alice", "e4",
		`{"$set":{"x":1},"$unset":["x"]}`, // parts apply in the SDK order: set, then unset
		`{"$unset":["$preferred_language"]}`,
		`{"$remove":{"$webpush":{"endpoint":"https://push.example.com/other"}}}`) // not there
	for i, body := range []string{e1, array(e2), array(e1), e4} { // e1 twice: a duplicate
		if w := post(s, body); w.Code != http.StatusAccepted {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	got, ok := s.Profile("alice")
	if !ok {
		t.Fatal("no profile")
	}
	want := `{
	  "distinct_id": "alice",
	  "properties": {"name": "Alice", "first_seen": "2024-01-01", "logins": 3, "credits": -1.5, "tags": ["new", "old"]},
	  "channels": {
	    "$email": [{"value": "a@example.com"}],
	    "$whatsapp": [{"value": "+15555550101"}],
	    "$androidpush": [{"value": "tokB", "provider": "fcm"}],
	    "$iospush": [{"value": "tokI", "provider": "apns"}],
	    "$webpush": [{"value": {"endpoint": "https://push.example.com/1"}, "provider": "vapid"}],
	    "$slack": [{"value": {"user_id": "U1", "access_token": "xoxb-1"}}],
	    "$ms_teams": [{"value": {"tenant_id": "t1", "user_id": "29:1"}}]
	  },
	  "$timezone": "UTC",
	  "events_applied": 3,
	  "last_insert_id": "e4",
	  "insert_ids": ["e1", "e2", "e4"]
	}`
	assertJSONEqual(t, got, want)
	if st := s.Stats(); st.EventsApplied != 3 || st.Duplicates != 1 || st.Accepted != 4 || st.Profiles != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInvalidBatchAppliesNothing(t *testing.T) {
	s := newTestServer(t, nil)
	w := post(s, array(ev("bob", "b1", `{"$set":{"a":1}}`), ev("carol", "c1", `{"$bogus":{}}`)))
	if w.Code != http.StatusBadRequest {
		t.Fatalf("status %d", w.Code)
	}
	if _, ok := s.Profile("bob"); ok {
		t.Fatal("a valid event of a refused batch was applied")
	}
	// The same insert id is not a duplicate later: nothing was remembered.
	if w := post(s, ev("bob", "b1", `{"$set":{"a":1}}`)); w.Code != http.StatusAccepted || s.Stats().EventsApplied != 1 {
		t.Fatalf("resend: %d, stats %+v", w.Code, s.Stats())
	}
}

func TestDedupWindowAndKeepIDs(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.DedupWindow = 2; c.KeepInsertIDs = 2 })
	for _, id := range []string{"1", "2", "3", "1", "3"} { // "1" fell out of the window; "3" did not
		post(s, ev("u", id, `{"$add":{"n":1}}`))
	}
	p, _ := s.Profile("u")
	if p.Properties["n"] != 4.0 || !reflect.DeepEqual(p.InsertIDs, []string{"3", "1"}) || s.Stats().Duplicates != 1 {
		t.Fatalf("n=%v ids=%v stats=%+v", p.Properties["n"], p.InsertIDs, s.Stats())
	}
}

func assertJSONEqual(t *testing.T, got any, want string) {
	t.Helper()
	gb, _ := json.Marshal(got)
	var g, w any
	_ = json.Unmarshal(gb, &g)
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got  %s\nwant %s", gb, want)
	}
}
