package mapping

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/profile-ingest/profile-ingest/profile"
)

var testOpts = mustDecoder(profile.Options{WorkspaceKey: "WS", UserAgent: "profile-ingest/test"})

func mustDecoder(opts profile.Options) *profile.Decoder {
	d, err := profile.NewDecoder(opts)
	if err != nil {
		panic(err)
	}
	return d
}

// record is one Kafka record captured from Debezium 3.6.1.Final (pgoutput) on PostgreSQL 15
// (testdata/*.tsv: key TAB value, one record a line, in topic order; an empty value is a
// tombstone). The statements that made them:
//
//	users (REPLICA IDENTITY FULL): id 1 inserted before the snapshot, then
//	insert id 2 (phone, tz, score, fcm_token, prefs NULL); update 2 set email b2@, phone;
//	update 1 set plan = NULL; update 2 set plan = plan (no-op); delete 1; update id 2 -> 3.
//	users_default (REPLICA IDENTITY DEFAULT): id 1 before the snapshot; insert 2; update 2
//	set email c@; delete 2.
type record struct{ key, value []byte }

func loadRecords(t *testing.T, name string) []record {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "\t")
		recs = append(recs, record{[]byte(k), []byte(v)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

const usersMapping = `
distinct_id: id
channels:
  email: email
  sms: phone
  androidpush: {field: fcm_token, provider: fcm}
preferred_language: lang
timezone: tz
`

func mustMapping(t *testing.T, raw string, f Format) Mapping {
	t.Helper()
	m, err := Parse([]byte(raw), f)
	if err != nil {
		t.Fatalf("mapping: %v", err)
	}
	return m
}

// userOps returns the event's distinct_id, $user_operations (compact JSON) and $time.
func userOps(t *testing.T, ev profile.Event) (string, string, int64) {
	t.Helper()
	var body struct {
		DistinctID string          `json:"distinct_id"`
		Ops        json.RawMessage `json:"$user_operations"`
		Time       int64           `json:"$time"`
		InsertID   string          `json:"$insert_id"`
	}
	if err := json.Unmarshal(ev.Body, &body); err != nil {
		t.Fatalf("event body: %v", err)
	}
	if body.InsertID != ev.InsertID {
		t.Fatalf("body $insert_id %q, event %q", body.InsertID, ev.InsertID)
	}
	var c bytes.Buffer
	if err := json.Compact(&c, body.Ops); err != nil {
		t.Fatal(err)
	}
	return body.DistinctID, c.String(), body.Time
}

func TestDebeziumScenarios(t *testing.T) {
	plain := loadRecords(t, "debezium-pg15-users-schemas-false.tsv")
	schema := loadRecords(t, "debezium-pg15-users-schemas-true.tsv")
	if len(plain) != 10 || len(schema) != 10 {
		t.Fatalf("testdata: %d and %d records, want 10 each", len(plain), len(schema))
	}
	const (
		snapshotOps = `[{"$append":{"$email":"a@example.com"}},{"$append":{"$sms":"+14155550101"}},{"$append":{"$androidpush":"tok-1","$id_provider":"fcm"}},{"$set":{"$preferred_language":"en"}},{"$set":{"$timezone":"Europe/Berlin"}},{"$set":{"plan":"free","prefs":"{\"x\": 1}","score":3,"updated_at":"2026-12-01T05:00:00.123456Z"}}]`
		deleteOps   = `[{"$remove":{"$email":"a@example.com"}},{"$remove":{"$sms":"+14155550101"}},{"$remove":{"$androidpush":"tok-1","$id_provider":"fcm"}},{"$unset":["$preferred_language","$timezone","plan","prefs","score","updated_at"]}]`
	)
	tests := []struct {
		name   string
		index  int    // record in the captured topic
		id     string // distinct_id; "" when skipped
		ops    string
		ms     int64
		msWith int64  // $time with the schema form when it differs (its own snapshot)
		skip   string // the *profile.Skip reason
		policy string
	}{
		{name: "snapshot read (source.snapshot is the string \"first\") adds the channels and sets the properties", index: 0, id: "1", ops: snapshotOps, ms: 1796102929754, msWith: 1796102929633},
		{name: "create sets what it has and leaves NULL columns alone", index: 1, id: "2",
			ops: `[{"$append":{"$email":"b@example.com"}},{"$set":{"$preferred_language":"de"}},{"$set":{"plan":"pro","updated_at":"2026-12-01T05:01:00.000000Z"}}]`, ms: 1796102949993},
		{name: "update of the email removes the old one and adds the new; a new phone is added", index: 2, id: "2",
			ops: `[{"$remove":{"$email":"b@example.com"}},{"$append":{"$email":"b2@example.com"}},{"$append":{"$sms":"+14155550102"}}]`, ms: 1796102950011},
		{name: "a property set to NULL is unset, unchanged columns send nothing", index: 3, id: "1", ops: `[{"$unset":["plan"]}]`, ms: 1796102950013},
		{name: "a no-op UPDATE still emits u, and sends nothing", index: 4, skip: "no_change"},
		{name: "delete removes the mapped channels and unsets the mapped properties", index: 5, id: "1", ops: deleteOps, ms: 1796102950103},
		{name: "delete under on_delete dead_letter is dead-lettered for review", index: 5, policy: DeleteDeadLetter},
		{name: "the tombstone after a delete is committed past", index: 6, skip: "tombstone"},
		{name: "primary-key update, first the delete of the old key", index: 7, id: "2",
			ops: `[{"$remove":{"$email":"b2@example.com"}},{"$remove":{"$sms":"+14155550102"}},{"$unset":["$preferred_language","$timezone","plan","prefs","score","updated_at"]}]`, ms: 1796102950123},
		{name: "primary-key update, its tombstone", index: 8, skip: "tombstone"},
		{name: "primary-key update, then the create of the new key", index: 9, id: "3",
			ops: `[{"$append":{"$email":"b2@example.com"}},{"$append":{"$sms":"+14155550102"}},{"$set":{"$preferred_language":"de"}},{"$set":{"plan":"pro","updated_at":"2026-12-01T05:01:00.000000Z"}}]`, ms: 1796102950123},
	}
	for _, tc := range tests {
		for _, form := range []struct {
			name string
			recs []record
		}{{"without schema", plain}, {"with schema", schema}} {
			t.Run(tc.name+"/"+form.name, func(t *testing.T) {
				m := mustMapping(t, usersMapping, FormatDebezium)
				if tc.policy != "" {
					m.OnDelete = tc.policy
				}
				d, err := NewDebezium(m, testOpts, nil)
				if err != nil {
					t.Fatal(err)
				}
				rec := form.recs[tc.index]
				origin := profile.Origin{Topic: "t", Offset: int64(tc.index), Key: rec.key, Timestamp: time.UnixMilli(1)}
				ev, err := d.Decode(rec.value, origin)
				switch {
				case tc.skip != "":
					var s *profile.Skip
					if !errors.As(err, &s) || s.Reason != tc.skip {
						t.Fatalf("got %v, want a skip %q", err, tc.skip)
					}
					return
				case tc.policy == DeleteDeadLetter:
					var pe *profile.Error
					if !errors.As(err, &pe) || pe.Reason != ReasonDeleteForReview || !strings.Contains(pe.Error(), `row "1" of postgres.public.users was deleted`) {
						t.Fatalf("got %v, want a %s error naming the row", err, ReasonDeleteForReview)
					}
					return
				case err != nil:
					t.Fatalf("Decode: %v", err)
				}
				id, ops, ms := userOps(t, ev)
				if form.name == "with schema" && tc.msWith != 0 {
					tc.ms = tc.msWith
				}
				if id != tc.id || ops != tc.ops || ms != tc.ms {
					t.Errorf("got distinct_id %q $time %d ops\n%s\nwant %q %d\n%s", id, ms, ops, tc.id, tc.ms, tc.ops)
				}
				again, err := d.Decode(rec.value, origin)
				if err != nil || again.InsertID != ev.InsertID || !bytes.Equal(again.Body, ev.Body) {
					t.Errorf("a re-read differs: %v %s vs %s", err, again.InsertID, ev.InsertID)
				}
			})
		}
	}
}

// The $insert_id is the change's source position + table + op + key: the same for a re-read
// (even with another envelope ts_ms: Debezium re-emitting after a restart), different for every
// other change, including rows of one snapshot (same LSN) and the two halves of a key update.
func TestDebeziumInsertIDs(t *testing.T) {
	recs := loadRecords(t, "debezium-pg15-users-schemas-false.tsv")
	d, err := NewDebezium(mustMapping(t, usersMapping, FormatDebezium), testOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i, r := range recs {
		ev, err := d.Decode(r.value, profile.Origin{Topic: "t", Offset: int64(i), Key: r.key})
		if err != nil {
			continue
		}
		if j, dup := seen[ev.InsertID]; dup {
			t.Errorf("records %d and %d share $insert_id %s", j, i, ev.InsertID)
		}
		seen[ev.InsertID] = i
		// The same change re-emitted: other envelope time, other offset.
		re := bytes.Replace(r.value, []byte(`"op":`), []byte(`"ts_ms_extra":1,"op":`), 1)
		re = bytes.Replace(re, []byte(`"transaction":null`), []byte(`"transaction":null,"ts_ms":1`), 1)
		ev2, err := d.Decode(re, profile.Origin{Topic: "t", Offset: int64(i) + 1000, Key: r.key})
		if err != nil || ev2.InsertID != ev.InsertID {
			t.Errorf("record %d re-emitted: %v, $insert_id %s, want %s", i, err, ev2.InsertID, ev.InsertID)
		}
	}
	if len(seen) != 7 {
		t.Errorf("%d events, want 7", len(seen))
	}
	// Two snapshot rows share the LSN; their keys tell them apart.
	snap := recs[0].value
	other := bytes.Replace(snap, []byte(`"id":1`), []byte(`"id":7`), 1)
	a, _ := d.Decode(snap, profile.Origin{Key: []byte(`{"id":1}`)})
	b, _ := d.Decode(other, profile.Origin{Key: []byte(`{"id":7}`)})
	if a.InsertID == "" || a.InsertID == b.InsertID {
		t.Errorf("two snapshot rows: %q and %q", a.InsertID, b.InsertID)
	}
}

// A table without REPLICA IDENTITY FULL: an update has no before image, a delete's before has
// only the key (the other columns null). The update adds and sets what it has and removes
// nothing; the warning comes once per table.
func TestDebeziumWithoutBeforeImage(t *testing.T) {
	recs := loadRecords(t, "debezium-pg15-users_default-schemas-false.tsv")
	schema := loadRecords(t, "debezium-pg15-users_default-schemas-true.tsv")
	for _, set := range [][]record{recs, schema} {
		var warned []string
		d, err := NewDebezium(mustMapping(t, "distinct_id: id\nchannels: {email: email}\n", FormatDebezium), testOpts,
			func(table string) { warned = append(warned, table) })
		if err != nil {
			t.Fatal(err)
		}
		want := []struct{ id, ops string }{
			{"1", `[{"$append":{"$email":"a@example.com"}},{"$set":{"plan":"free"}}]`},
			{"2", `[{"$append":{"$email":"b@example.com"}},{"$set":{"plan":"pro"}}]`},
			{"2", `[{"$append":{"$email":"c@example.com"}},{"$set":{"plan":"pro"}}]`},
			{"2", `[{"$unset":["plan"]}]`},
		}
		for i, w := range want {
			ev, err := d.Decode(set[i].value, profile.Origin{Key: set[i].key})
			if err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			if id, ops, _ := userOps(t, ev); id != w.id || ops != w.ops {
				t.Errorf("record %d: %s %s, want %s %s", i, id, ops, w.id, w.ops)
			}
			if i == 2 {
				if _, err := d.Decode(set[i].value, profile.Origin{Key: set[i].key}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if len(warned) != 1 || warned[0] != "postgres.public.users_default" {
			t.Errorf("warnings %q, want one for postgres.public.users_default", warned)
		}
	}
}

func TestDebeziumRefusals(t *testing.T) {
	recs := loadRecords(t, "debezium-pg15-users-schemas-false.tsv")
	d, err := NewDebezium(mustMapping(t, usersMapping, FormatDebezium), testOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	badEmail := bytes.Replace(recs[1].value, []byte(`"b@example.com"`), []byte(`"not an email"`), 1)
	boolID := bytes.Replace(recs[1].value, []byte(`"id":2`), []byte(`"id":true`), 1)
	tests := []struct {
		name, value string
		reason      profile.Reason
		err         string
	}{
		{"not JSON", `{"op":`, profile.ReasonInvalidJSON, "invalid JSON at byte"},
		{"a mutation message on a debezium topic", `{"distinct_id":"u","operations":[]}`, profile.ReasonInvalidMessage, "op: is missing"},
		{"an unknown op", `{"op":"x","after":{"id":1}}`, profile.ReasonInvalidMessage, `op: "x" is not a Debezium operation`},
		{"after is not a row", `{"op":"c","after":[1]}`, profile.ReasonInvalidMessage, "after: must be an object"},
		{"create without after", `{"op":"c","after":null}`, profile.ReasonInvalidMessage, "after: is missing or null"},
		{"distinct_id column missing", `{"op":"c","after":{"email":"a@example.com"}}`, profile.ReasonInvalidMessage, "after.id: is missing"},
		{"distinct_id not a string or integer", string(boolID), profile.ReasonInvalidMessage, "after.id: must be a string or an integer, got a boolean"},
		{"an invalid email names the column and the operation", string(badEmail), profile.ReasonInvalidOperation, `after.email (as add_email): "not an email" is not a valid email`},
		{"a language that is not ISO 639-1", `{"op":"c","after":{"id":1,"lang":"english"}}`, profile.ReasonInvalidOperation, "after.lang (as set_preferred_language)"},
		{"the schema form with a payload that is not an object", `{"schema":{},"payload":3}`, profile.ReasonInvalidMessage, "payload: must be an object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Decode([]byte(tc.value), profile.Origin{})
			var pe *profile.Error
			if !errors.As(err, &pe) || pe.Reason != tc.reason || !strings.Contains(pe.Error(), tc.err) {
				t.Fatalf("got %v, want %s containing %q", err, tc.reason, tc.err)
			}
		})
	}
	for _, op := range []string{"t", "m"} {
		_, err := d.Decode([]byte(`{"op":"`+op+`","source":{"table":"users"}}`), profile.Origin{})
		var s *profile.Skip
		if !errors.As(err, &s) {
			t.Errorf("op %s: %v, want a skip", op, err)
		}
	}
}

// A large row is held to the event size limit like any message.
func TestDebeziumTooLarge(t *testing.T) {
	d, err := NewDebezium(mustMapping(t, usersMapping, FormatDebezium), testOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := `{"op":"c","after":{"id":1,"bio":"` + strings.Repeat("x", 11000) + `"}}`
	_, err = d.Decode([]byte(big), profile.Origin{})
	var pe *profile.Error
	if !errors.As(err, &pe) || pe.Reason != profile.ReasonTooLarge {
		t.Fatalf("got %v, want too_large", err)
	}
}

// The README's example mapping is valid and does what its comments say.
func TestExampleMappingFile(t *testing.T) {
	m, err := Load("../../deploy/mapping.example.yaml", FormatDebezium)
	if err != nil {
		t.Fatal(err)
	}
	if m.DistinctID != "id" || m.Channels.AndroidPush == nil || m.Channels.AndroidPush.Provider != "fcm" || m.Channels.IOSPush.Field != "apns_token" || m.OnDelete != DeleteRemove {
		t.Fatalf("%+v", m)
	}
}

// The no-before-image warning comes for a delete whose before holds only the key (REPLICA
// IDENTITY DEFAULT), and not for a full before image, even when the mapping names columns the
// table does not have.
func TestDebeziumDeleteWarning(t *testing.T) {
	full := loadRecords(t, "debezium-pg15-users-schemas-true.tsv")[5]
	keyOnly := loadRecords(t, "debezium-pg15-users_default-schemas-true.tsv")[3]
	for _, tc := range []struct {
		name string
		rec  record
		warn bool
	}{{"full before image", full, false}, {"key-only before image", keyOnly, true}} {
		var warned []string
		d, err := NewDebezium(mustMapping(t, strings.Replace(usersMapping, "channels:\n", "channels:\n  whatsapp: whatsapp\n", 1), FormatDebezium), testOpts,
			func(table string) { warned = append(warned, table) })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Decode(tc.rec.value, profile.Origin{Key: tc.rec.key}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if (len(warned) == 1) != tc.warn {
			t.Errorf("%s: warnings %q, want a warning: %v", tc.name, warned, tc.warn)
		}
	}
}
