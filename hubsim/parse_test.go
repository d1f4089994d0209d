package hubsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// checkAgainstReference parses body with the fast path and checks it against encoding/json:
// the same syntax verdict as json.Valid, the same elements as splitBody, and for every event
// the fast path takes, the verdict and the event parseEventRef gives. It returns how many
// events the fast path took.
func checkAgainstReference(t *testing.T, body []byte) int {
	t.Helper()
	var p bodyParser
	p.key = []byte(testKey)
	ok := p.parseBody(body)
	if valid := json.Valid(body); ok != valid {
		t.Fatalf("scanner says valid=%v, json.Valid says %v, for %q", ok, valid, body)
	}
	if !ok {
		return 0
	}
	raws, rerr := splitBody(body)
	if len(p.evs) > MaxEvents {
		if rerr == nil || rerr.Cause != "too_many_events" {
			t.Fatalf("%d events, splitBody: %v", len(p.evs), rerr)
		}
		return 0
	}
	if rerr != nil || len(raws) != len(p.evs) {
		t.Fatalf("splitBody: %d events (%v), fast path %d, for %q", len(raws), rerr, len(p.evs), body)
	}
	fast := 0
	for i, re := range p.evs {
		if !bytes.Equal(re.raw, raws[i]) {
			t.Fatalf("event %d: fast path %q, splitBody %q", i, re.raw, raws[i])
		}
		if !re.fast {
			continue
		}
		fast++
		ref, _, err := parseEventRef(re.raw, testKey)
		if err != nil {
			t.Fatalf("event %d: the fast path takes %s; the reference refuses it: %v", i, re.raw, err)
		}
		if got, want := dumpEvent(re.ev), dumpEvent(ref); got != want {
			t.Fatalf("event %d of %s:\nfast      %s\nreference %s", i, re.raw, got, want)
		}
	}
	return fast
}

// dumpEvent prints an event for comparison; empty and nil parts print alike.
func dumpEvent(ev event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id=%q user=%q", ev.insertID, ev.distinctID)
	for _, o := range ev.ops {
		b.WriteString(" {")
		for _, part := range []struct {
			name string
			kvs  []kv
		}{{"set", o.set}, {"set_once", o.setOnce}, {"add", o.add}, {"append", o.append}, {"remove", o.remove}} {
			if len(part.kvs) == 0 {
				continue
			}
			fmt.Fprintf(&b, " %s:", part.name)
			for _, m := range part.kvs {
				fmt.Fprintf(&b, " %q=%s", m.key, m.val)
			}
		}
		if len(o.unset) > 0 {
			fmt.Fprintf(&b, " unset:%q", o.unset)
		}
		b.WriteString(" }")
	}
	return b.String()
}

// TestFastPathMatchesReference runs the fast path on events in every shape the tests use and
// in unusual ones it must leave to encoding/json.
func TestFastPathMatchesReference(t *testing.T) {
	good := ev("u1", "i1", `{"$set":{"a":1}}`)
	tests := []struct {
		name     string
		body     string
		wantFast int // events the fast path takes
	}{
		{"one event", good, 1},
		{"array", array(good, ev("u2", "i2", `{"$add":{"n":-1.5e2}}`, `{"$unset":["a","$sms"]}`)), 2},
		{"every operation", ev("u", "i",
			`{"$append":{"$email":"a@example.com"}}`,
			`{"$append":{"$androidpush":"tokA","$pushvendor":"xiaomi"}}`,
			`{"$append":{"$webpush":{"endpoint":"https://push.example.com/1"},"$id_provider":"vapid"}}`,
			`{"$append":{"$iospush":"t","$id_provider":null}}`,
			`{"$set":{"b":[1,{"c":null}],"a":"x","$timezone":"UTC"},"$set_once":{"f":true},"$unset":[]}`,
			`{"$remove":{"tags":"vip","$email":"b@example.com"}}`,
			`{}`), 1},
		{"space everywhere", " [ \n" + strings.ReplaceAll(good, ":", " :\t") + " , " + good + " ]\r\n", 2},
		{"unicode and escapes in values", rawEv(`"ü ser"`, `"i\u0031"`, `{"$set":{"k\u00e9":"\"q\"","é":"ü","\ud83d\ude00":1}}`), 1},
		{"duplicate member: last wins", ev("u", "i", `{"$set":{"a":1,"b":2,"a":3}}`), 1},
		{"empty array", `[]`, 0},

		{"case-folded field", strings.Replace(good, `"env"`, `"ENV"`, 1), 0},
		{"field folded by Kelvin sign", strings.Replace(good, `}]`, `}],"$user_operations\u212a":1`, 1), 0},
		{"escaped field name", strings.Replace(good, `"env"`, `"\u0065nv"`, 1), 0},
		{"repeated field", strings.Replace(good, `"env"`, `"distinct_id":"x","env"`, 1), 0},
		{"repeated operation", ev("u", "i", `{"$set":{"a":1},"$set":{"b":2}}`), 0},
		{"unset null", ev("u", "i", `{"$unset":null}`), 0},
		{"unset with null", ev("u", "i", `{"$unset":["a",null]}`), 0},
		{"channel checked twice", ev("u", "i", `{"$append":{"$email":5,"$email":"a@b.co"}}`), 0},
		{"time out of range", strings.Replace(good, "1700000000000", "1e400", 1), 0},
		{"long time", strings.Replace(good, "1700000000000", "-17000000000000000000.5e-3", 1), 1},
		{"bad UTF-8 in distinct_id", rawEv("\"u\xff\"", `"i"`, `{"$set":{"a":1}}`), 1},
		{"bad UTF-8 in a key", rawEv(`"u"`, `"i"`, "{\"$set\":{\"a\xff\":1,\"a\xef\xbf\xbd\":2}}"), 1},
		{"not an object", `[1,"x",null,[]]`, 0},
		{"refused op", ev("u", "i", `{"$bogus":{}}`), 0},
		{"blank distinct_id", ev(" \u00a0", "i", `{"$set":{"a":1}}`), 0},
		{"bad JSON", `[{"a":1},]`, 0},
		{"bad escape", `{"a":"\x"}`, 0},
		{"control character", "{\"a\":\"\x01\"}", 0},
		{"too deep", strings.Repeat("[", 10001) + strings.Repeat("]", 10001), 0},
		{"deep but valid", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), 0},
		{"trailing garbage", good + "x", 0},
		{"leading zero", `[01]`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkAgainstReference(t, []byte(tt.body)); got != tt.wantFast {
				t.Errorf("fast path took %d events, want %d", got, tt.wantFast)
			}
		})
	}
}

// rawEv is ev with the distinct id and insert id given as JSON, as they are.
func rawEv(id, insertID string, ops ...string) string {
	return `{"$schema":"2","$insert_id":` + insertID + `,"$time":1700000000000,"env":"` + testKey + `","distinct_id":` + id +
		`,"$user_operations":[` + strings.Join(ops, ",") + `],"properties":{"$ss_sdk_version":"test"}}`
}

func FuzzFastPath(f *testing.F) {
	f.Add([]byte(ev("u1", "i1", `{"$set":{"a":1}}`)))
	f.Add([]byte(array(ev("u", "i", `{"$append":{"$androidpush":"tokA","$pushvendor":"xiaomi"}}`, `{"$add":{"n":2}}`), ev("v", "j", `{"$unset":["a"]}`, `{"$remove":{"$webpush":{"e":1}}}`))))
	f.Add([]byte(`[{"a":"\u00e9\"","b":[true,false,null,-0.5e+3]}]`))
	f.Add([]byte(strings.Replace(ev("u", "i"), `"$user_operations":[]`, `"$user_operations":null`, 1)))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAgainstReference(t, body)
	})
}

func TestSortKVs(t *testing.T) {
	in := []kv{{key: []byte("b"), val: []byte("1")}, {key: []byte("a"), val: []byte("2")}, {key: []byte("b"), val: []byte("3")}, {key: []byte("a"), val: []byte("4")}}
	var got []string
	for _, m := range sortKVs(in) {
		got = append(got, string(m.key)+"="+string(m.val))
	}
	if want := []string{"a=4", "b=3"}; !slices.Equal(got, want) {
		t.Fatalf("sortKVs = %v, want %v", got, want)
	}
}
