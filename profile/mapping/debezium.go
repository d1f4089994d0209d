package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"sync"

	"github.com/google/uuid"

	"github.com/profile-ingest/profile-ingest/profile"
)

// ReasonDeleteForReview is the dead-letter reason of a Debezium delete under the on_delete
// policy dead_letter: the row was deleted and a person decides what happens to the profile.
const ReasonDeleteForReview profile.Reason = "delete_for_review"

// DebeziumNamespace is the UUIDv5 namespace of a Debezium event's $insert_id:
// uuid.NewSHA1(DebeziumNamespace, source position + table + op + record key). It must never
// change: a re-read after an upgrade must send the same ids.
var DebeziumNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/profile-ingest/profile-ingest/insert-id/debezium"))

// notPosition are the fields of a Debezium source block that are not the change's position:
// times, the snapshot marker and the connector's version differ between two reads of the same
// change, so they stay out of its $insert_id.
var notPosition = map[string]bool{"ts_ms": true, "ts_us": true, "ts_ns": true, "snapshot": true, "version": true}

// Debezium decodes Debezium change events (the JSON converter's envelope, with or without the
// embedded schema) of one table-like source through a Mapping. Build it with NewDebezium; it is
// safe for concurrent use.
type Debezium struct {
	m        Mapping
	dec      *profile.Decoder // the mutation format's rules, options checked once
	channels []channel
	mapped   map[string]bool
	noBefore func(table string)
	warned   sync.Map
}

// NewDebezium validates m and returns a decoder. noBefore, when not nil, is called once per
// table at the first update or delete without a before image (a table whose REPLICA IDENTITY
// is not FULL): such an event cannot remove a channel value it does not know, and is applied
// without that removal.
func NewDebezium(m Mapping, dec *profile.Decoder, noBefore func(table string)) (*Debezium, error) {
	if err := m.Validate(FormatDebezium); err != nil {
		return nil, err
	}
	if dec == nil {
		return nil, errors.New("mapping: a profile.Decoder is required")
	}
	d := &Debezium{m: m, dec: dec, channels: m.channelList(), mapped: map[string]bool{}, noBefore: noBefore}
	for _, f := range m.fields() {
		d.mapped[f.path] = true
	}
	return d, nil
}

// Decode turns one Debezium record value into the identity event it means. A tombstone, an
// update that changes no mapped column, a truncate and a logical-decoding message are a
// *profile.Skip; any other error is a *profile.Error. It never panics.
func (d *Debezium) Decode(value []byte, origin profile.Origin) (profile.Event, error) {
	if isNull(value) {
		return profile.Event{}, &profile.Skip{Reason: "tombstone", Msg: "a Debezium tombstone (the record after a delete)"}
	}
	top, err := checkJSON(value)
	if err != nil {
		return profile.Event{}, err
	}
	env := top
	prefix := ""
	if p, ok := top["payload"]; ok {
		if _, schema := top["schema"]; schema {
			if isNull(p) {
				return profile.Event{}, &profile.Skip{Reason: "tombstone", Msg: "a Debezium tombstone (the record after a delete)"}
			}
			if env, ok = objectOnly(p); !ok {
				return profile.Event{}, invalid("payload", "must be an object (the change event), got "+kind(p))
			}
			prefix = "payload."
		}
	}
	opRaw, ok := env["op"]
	if !ok {
		return profile.Event{}, invalid(prefix+"op", "is missing: this is not a Debezium change event (is the topic's format right?)")
	}
	var opName string
	if json.Unmarshal(opRaw, &opName) != nil {
		return profile.Event{}, invalid(prefix+"op", "must be a string (c, r, u, d), got "+kind(opRaw))
	}
	source, _ := objectOnly(env["source"])
	table := tableName(source)
	switch opName {
	case "c", "r", "u", "d":
	case "t":
		return profile.Event{}, &profile.Skip{Reason: "truncate", Msg: "table " + table + " was truncated; profiles are left as they are"}
	case "m":
		return profile.Event{}, &profile.Skip{Reason: "message", Msg: "a logical-decoding message"}
	default:
		return profile.Event{}, invalid(prefix+"op", strconv.Quote(opName)+" is not a Debezium operation: c, r, u, d, t or m")
	}
	before, err := row(env, "before", prefix)
	if err != nil {
		return profile.Event{}, err
	}
	after, err := row(env, "after", prefix)
	if err != nil {
		return profile.Event{}, err
	}
	msg := &message{ms: -1}
	img, imgName := after, "after"
	if opName == "d" {
		img, imgName = before, "before"
	}
	if img == nil {
		return profile.Event{}, invalid(prefix+imgName, "is missing or null: a \""+opName+"\" event needs it")
	}
	msg.distinctIDSrc = prefix + imgName + "." + d.m.DistinctID
	idv, present := img[d.m.DistinctID]
	if !present {
		rule := "is missing: the mapping's distinct_id names a column the event does not have"
		if opName == "d" {
			rule += " (a delete's before image carries only the primary key unless the table has REPLICA IDENTITY FULL)"
		}
		return profile.Event{}, invalid(msg.distinctIDSrc, rule)
	}
	id, ok := idText(idv)
	if !ok {
		return profile.Event{}, invalid(msg.distinctIDSrc, "must be a string or an integer, got "+kind(idv))
	}
	msg.distinctID = id
	if t, ok := millis(source["ts_ms"]); ok {
		msg.ms, msg.timeSrc = t, prefix+"source.ts_ms"
	} else if t, ok := millis(env["ts_ms"]); ok {
		msg.ms, msg.timeSrc = t, prefix+"ts_ms"
	}
	msg.eventID = insertID(source, opName, origin.Key, img)
	msg.eventIDSrc = prefix + "source"

	switch opName {
	case "c", "r":
		msg.ops = d.diff(nil, after, prefix, table, false)
	case "u":
		if before == nil {
			d.warn(table)
		}
		msg.ops = d.diff(before, after, prefix, table, before == nil)
	case "d":
		if d.m.OnDelete == DeleteDeadLetter {
			return profile.Event{}, &profile.Error{Reason: ReasonDeleteForReview, Field: prefix + "op",
				Msg: "row " + strconv.Quote(id) + " of " + table + " was deleted and the mapping's on_delete is dead_letter: review it, then replay or drop it"}
		}
		msg.ops = d.deleteOps(before, origin.Key, prefix, table)
	}
	if len(msg.ops) == 0 {
		return profile.Event{}, &profile.Skip{Reason: "no_change", Msg: "no mapped column of " + table + " changed"}
	}
	return msg.decode(origin, d.dec)
}

// diff is the operations that take a profile from the before image to the after image. With
// before nil, everything in after is added and set (create, snapshot read, an update without a
// before image: then nothing can be removed, since the old values are unknown).
func (d *Debezium) diff(before, after map[string]json.RawMessage, prefix, table string, noImage bool) []op {
	var removes, adds []op
	getA := func(p string) json.RawMessage { return after[p] }
	getB := func(p string) json.RawMessage { return before[p] }
	for _, c := range d.channels {
		na, nok := c.arg(getA)
		var oa json.RawMessage
		var ook bool
		if before != nil {
			oa, ook = c.arg(getB)
		}
		if ook && nok && same(oa, na) {
			continue
		}
		if ook {
			removes = append(removes, op{"remove_" + c.name, oa, prefix + "before." + c.field})
		}
		if nok {
			adds = append(adds, op{"add_" + c.name, na, prefix + "after." + c.field})
		}
	}
	ops := append(removes, adds...)
	p := newProps(prefix + "after")
	for _, r := range []struct{ field, key, name string }{{d.m.PreferredLanguage, "$preferred_language", "set_preferred_language"}, {d.m.Timezone, "$timezone", "set_timezone"}} {
		if r.field == "" {
			continue
		}
		nv, ov := after[r.field], before[r.field]
		if before != nil && bytes.Equal(bytes.TrimSpace(nv), bytes.TrimSpace(ov)) {
			continue
		}
		switch {
		case !absent(nv):
			ops = append(ops, op{r.name, bytes.TrimSpace(nv), prefix + "after." + r.field})
		case before != nil || noImage:
			p.unset = append(p.unset, r.key)
		}
	}
	for _, k := range sortedKeys(after) {
		if !d.m.property(k, d.mapped) {
			continue
		}
		nv := after[k]
		if before != nil {
			if ov, ok := before[k]; ok && bytes.Equal(bytes.TrimSpace(ov), bytes.TrimSpace(nv)) {
				continue
			}
		} else if isNull(nv) && !noImage {
			continue // a create sets what it has; nothing to unset
		}
		p.put(k, nv)
	}
	return p.ops(ops)
}

// deleteOps removes the channels the before image holds and unsets the mapped properties.
func (d *Debezium) deleteOps(before map[string]json.RawMessage, key []byte, prefix, table string) []op {
	var ops []op
	get := func(p string) json.RawMessage { return before[p] }
	for _, c := range d.channels {
		if a, ok := c.arg(get); ok {
			ops = append(ops, op{"remove_" + c.name, a, prefix + "before." + c.field})
		}
	}
	if keyOnly(before, key) {
		d.warn(table)
	}
	p := newProps(prefix + "before")
	if d.m.PreferredLanguage != "" {
		p.unset = append(p.unset, "$preferred_language")
	}
	if d.m.Timezone != "" {
		p.unset = append(p.unset, "$timezone")
	}
	keys := sortedKeys(before)
	for _, k := range d.m.Properties.Include {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if d.m.property(k, d.mapped) {
			p.unset = append(p.unset, k)
		}
	}
	return p.ops(ops)
}

// keyOnly reports whether a delete's before image looks like PostgreSQL's under REPLICA
// IDENTITY DEFAULT: every column but the record key's is null. It only decides a warning.
func keyOnly(before map[string]json.RawMessage, key []byte) bool {
	k, ok := objectOnly(key)
	if p, wrapped := k["payload"]; wrapped {
		if _, schema := k["schema"]; schema {
			k, ok = objectOnly(p)
		}
	}
	if !ok || len(k) == 0 {
		return false
	}
	others := 0
	for col, v := range before {
		if _, isKey := k[col]; isKey {
			continue
		}
		if !isNull(v) {
			return false
		}
		others++
	}
	return others > 0
}

func (d *Debezium) warn(table string) {
	if d.noBefore == nil {
		return
	}
	if _, loaded := d.warned.LoadOrStore(table, true); !loaded {
		d.noBefore(table)
	}
}

// insertID is the event's $insert_id: the change's position in the source (every field of the
// source block but its times, snapshot marker and version), its table, the operation and the
// record key (the row's primary key), so a re-read of the same change sends the same id. A
// record without a key uses the row image instead.
func insertID(source map[string]json.RawMessage, op string, key []byte, img map[string]json.RawMessage) string {
	var b bytes.Buffer
	b.WriteString("debezium\x00")
	for _, k := range sortedKeys(source) {
		if notPosition[k] {
			continue
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.Write(bytes.TrimSpace(source[k]))
		b.WriteByte(0)
	}
	b.WriteString("op=" + op + "\x00key=")
	if len(key) > 0 {
		b.Write(key)
	} else {
		for _, k := range sortedKeys(img) {
			b.WriteString(k)
			b.WriteByte('=')
			b.Write(bytes.TrimSpace(img[k]))
			b.WriteByte(0)
		}
	}
	return uuid.NewSHA1(DebeziumNamespace, b.Bytes()).String()
}

func tableName(source map[string]json.RawMessage) string {
	var parts []string
	for _, k := range []string{"db", "schema", "table"} {
		var s string
		if json.Unmarshal(source[k], &s) == nil && s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "the table"
	}
	name := parts[0]
	for _, p := range parts[1:] {
		name += "." + p
	}
	return name
}

// row reads the before or after image: nil when missing or null.
func row(env map[string]json.RawMessage, name, prefix string) (map[string]json.RawMessage, error) {
	v, ok := env[name]
	if !ok || isNull(v) {
		return nil, nil
	}
	m, ok := objectOnly(v)
	if !ok {
		return nil, invalid(prefix+name, "must be an object (the row) or null, got "+kind(v))
	}
	return m, nil
}

func objectOnly(v json.RawMessage) (map[string]json.RawMessage, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	return m, json.Unmarshal(v, &m) == nil
}

// millis reads epoch milliseconds.
func millis(v json.RawMessage) (int64, bool) {
	n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
	return n, err == nil && n >= 0
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
