package hubsim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Profile is a user as hubsim stores it.
type Profile struct {
	DistinctID string `json:"distinct_id"`
	// Properties set by $set, $set_once, $add, $append and $remove on non-channel keys. In
	// the copies Server.Profile returns, values are decoded JSON (float64, string, []any, …).
	Properties map[string]any `json:"properties"`
	// Channels by channel key ("$email", "$androidpush", …), in the order they were added.
	Channels          map[string][]Channel `json:"channels"`
	PreferredLanguage string               `json:"$preferred_language,omitempty"`
	Timezone          string               `json:"$timezone,omitempty"`
	// EventsApplied counts the events applied to the profile; LastInsertID is the latest.
	EventsApplied int    `json:"events_applied"`
	LastInsertID  string `json:"last_insert_id"`
	// InsertIDs are the latest Config.KeepInsertIDs applied $insert_ids, oldest first.
	InsertIDs []string `json:"insert_ids,omitempty"`
}

// Channel is one address of a channel: an email or phone number, a push token with its
// provider, or a webpush/slack/ms_teams object.
type Channel struct {
	Value    json.RawMessage `json:"value"`
	Provider string          `json:"provider,omitempty"`
}

// store holds the profiles and the dedup window; the Server's mu guards it.
type store struct {
	keepIDs  int
	profiles map[string]*Profile
	seen     map[string]struct{}
	ring     []string // insert ids in seen, oldest at next once full
	next     int
	names    map[string]string // property and channel keys, shared by the profiles
}

// maxNames bounds the key names store shares; keys past it are allocated per use.
const maxNames = 1 << 16

func newStore(keepIDs, window int) *store {
	return &store{keepIDs: keepIDs, profiles: map[string]*Profile{}, seen: map[string]struct{}{},
		ring: make([]string, 0, min(window, 1<<16)), next: 0, names: map[string]string{}}
}

// name returns key as a string, shared with earlier uses of the same key.
func (st *store) name(key []byte) string {
	if s, ok := st.names[string(key)]; ok {
		return s
	}
	s := string(key)
	if len(st.names) < maxNames {
		st.names[s] = s
	}
	return s
}

// remember adds id to the dedup window, forgetting the oldest id once the window is full; it
// reports false, changing nothing, when id is in the window already.
func (st *store) remember(id string, window int) bool {
	n := len(st.seen)
	st.seen[id] = struct{}{} // one hash lookup for the usual case, a new id
	if len(st.seen) == n {
		return false
	}
	if len(st.ring) < window {
		st.ring = append(st.ring, id)
	} else {
		delete(st.seen, st.ring[st.next]) // not id: id was not in the window
		st.ring[st.next] = id
		st.next = (st.next + 1) % window
	}
	return true
}

// apply applies ev unless its insert id was applied before; it reports whether it applied.
// It copies what it keeps of ev.
func (st *store) apply(ev *event, window int) bool {
	insertID := string(ev.insertID)
	if !st.remember(insertID, window) {
		return false
	}
	p := st.profiles[string(ev.distinctID)]
	if p == nil {
		id := string(ev.distinctID)
		p = &Profile{DistinctID: id, Properties: map[string]any{}, Channels: map[string][]Channel{}}
		st.profiles[id] = p
	}
	for i := range ev.ops {
		st.applyOp(p, &ev.ops[i])
	}
	p.EventsApplied++
	p.LastInsertID = insertID
	if st.keepIDs > 0 {
		if len(p.InsertIDs) == st.keepIDs {
			p.InsertIDs = slices.Delete(p.InsertIDs, 0, 1)
		}
		p.InsertIDs = append(p.InsertIDs, insertID)
	}
	return true
}

// applyOp applies one operation's parts to p in the SDK order: $set, $set_once, $add,
// $append, $remove, $unset. Keys within one part apply in sorted order.
func (st *store) applyOp(p *Profile, o *op) {
	for _, m := range o.set {
		switch string(m.key) {
		case "$preferred_language":
			p.PreferredLanguage = str(m.val)
		case "$timezone":
			p.Timezone = str(m.val)
		default:
			if cur, ok := p.Properties[string(m.key)].(json.RawMessage); ok && bytes.Equal(cur, m.val) {
				continue // the same value again
			}
			p.Properties[st.name(m.key)] = json.RawMessage(bytes.Clone(m.val))
		}
	}
	for _, m := range o.setOnce {
		if _, ok := p.Properties[string(m.key)]; !ok {
			p.Properties[st.name(m.key)] = json.RawMessage(bytes.Clone(m.val))
		}
	}
	for _, m := range o.add {
		var cur float64 // missing or not a number: counts from 0
		var buf []byte
		if raw, ok := p.Properties[string(m.key)].(json.RawMessage); ok {
			cur, _ = strconv.ParseFloat(string(raw), 64)
			buf = raw[:0] // the profile's own copy, referred to nowhere else: reuse it
		}
		add, _ := strconv.ParseFloat(string(m.val), 64)
		p.Properties[st.name(m.key)] = json.RawMessage(strconv.AppendFloat(buf, cur+add, 'f', -1, 64))
	}
	st.appendOrRemove(p, o.append, true)
	st.appendOrRemove(p, o.remove, false)
	for _, k := range o.unset {
		switch {
		case isChannel([]byte(k)):
			delete(p.Channels, k)
		case k == "$preferred_language":
			p.PreferredLanguage = ""
		case k == "$timezone":
			p.Timezone = ""
		default:
			delete(p.Properties, k)
		}
	}
}

// appendOrRemove applies an $append (add) or $remove object: channel keys change channels,
// taking the provider from $id_provider or $pushvendor; other keys change list properties
// (appending keeps duplicates; removing drops every equal element).
func (st *store) appendOrRemove(p *Profile, m []kv, add bool) {
	if len(m) == 0 {
		return
	}
	var idProvider, pushVendor string
	for _, x := range m {
		switch string(x.key) {
		case "$id_provider":
			idProvider = str(x.val)
		case "$pushvendor":
			pushVendor = str(x.val)
		}
	}
	provider := cmp.Or(idProvider, pushVendor)
	for _, x := range m {
		v := json.RawMessage(x.val)
		switch channelKind(x.key) {
		case chProvider:
		case chString, chObject:
			k := st.name(x.key)
			i := slices.IndexFunc(p.Channels[k], func(c Channel) bool { return sameRaw(c.Value, v) })
			switch {
			case add && i < 0:
				c := Channel{Value: bytes.Clone(v)}
				if k == "$androidpush" || k == "$iospush" || k == "$webpush" {
					c.Provider = provider
				}
				p.Channels[k] = append(p.Channels[k], c)
			case !add && i >= 0:
				p.Channels[k] = slices.Delete(p.Channels[k], i, i+1)
				if len(p.Channels[k]) == 0 {
					delete(p.Channels, k)
				}
			}
		default:
			if add {
				k := st.name(x.key)
				v = bytes.Clone(v)
				switch cur := p.Properties[k].(type) {
				case nil:
					p.Properties[k] = []json.RawMessage{v}
				case []json.RawMessage:
					p.Properties[k] = append(cur, v)
				case json.RawMessage:
					var list []json.RawMessage
					if json.Unmarshal(cur, &list) != nil { // a scalar becomes a list holding it
						list = []json.RawMessage{cur}
					}
					p.Properties[k] = append(list, v)
				}
				continue
			}
			k := string(x.key)
			list, ok := p.Properties[k].([]json.RawMessage)
			if raw, isRaw := p.Properties[k].(json.RawMessage); isRaw {
				ok = json.Unmarshal(raw, &list) == nil
			}
			if ok {
				p.Properties[st.name(x.key)] = slices.DeleteFunc(list, func(e json.RawMessage) bool { return sameRaw(e, v) })
			}
		}
	}
}

// str decodes a JSON string; "" for anything else.
func str(raw []byte) string {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		if in := raw[1 : len(raw)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
			return string(in) // a checked string without escapes decodes to itself
		}
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// sameRaw compares two JSON values as sent, ignoring insignificant whitespace.
func sameRaw(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}

// clone deep-copies p through JSON, so callers never share the store's maps.
func (p *Profile) clone() Profile {
	b, _ := json.Marshal(p)
	var out Profile
	_ = json.Unmarshal(b, &out)
	return out
}
