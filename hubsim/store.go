package hubsim

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
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
}

func newStore(keepIDs, window int) *store {
	return &store{keepIDs: keepIDs, profiles: map[string]*Profile{}, seen: map[string]struct{}{}, ring: make([]string, 0, min(window, 1<<16)), next: 0}
}

func (st *store) remember(id string, window int) {
	if len(st.ring) < window {
		st.ring = append(st.ring, id)
	} else {
		delete(st.seen, st.ring[st.next])
		st.ring[st.next] = id
		st.next = (st.next + 1) % window
	}
	st.seen[id] = struct{}{}
}

// apply applies ev unless its insert id was applied before; it reports whether it applied.
func (st *store) apply(ev event, window int) bool {
	if _, dup := st.seen[ev.InsertID]; dup {
		return false
	}
	st.remember(ev.InsertID, window)
	p := st.profiles[ev.DistinctID]
	if p == nil {
		p = &Profile{DistinctID: ev.DistinctID, Properties: map[string]any{}, Channels: map[string][]Channel{}}
		st.profiles[ev.DistinctID] = p
	}
	for _, o := range ev.Ops {
		p.applyOp(o)
	}
	p.EventsApplied++
	p.LastInsertID = ev.InsertID
	if st.keepIDs > 0 {
		if len(p.InsertIDs) == st.keepIDs {
			p.InsertIDs = slices.Delete(p.InsertIDs, 0, 1)
		}
		p.InsertIDs = append(p.InsertIDs, ev.InsertID)
	}
	return true
}

// applyOp applies one operation's parts in the SDK order: $set, $set_once, $add, $append,
// $remove, $unset. Keys within one part apply in sorted order.
func (p *Profile) applyOp(o op) {
	for _, k := range slices.Sorted(maps.Keys(o.Set)) {
		switch v := o.Set[k]; k {
		case "$preferred_language":
			p.PreferredLanguage = str(v)
		case "$timezone":
			p.Timezone = str(v)
		default:
			p.Properties[k] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.SetOnce)) {
		if _, ok := p.Properties[k]; !ok {
			p.Properties[k] = o.SetOnce[k]
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.Add)) {
		var cur float64 // missing or not a number: counts from 0
		if raw, ok := p.Properties[k].(json.RawMessage); ok {
			cur, _ = strconv.ParseFloat(string(raw), 64)
		}
		add, _ := strconv.ParseFloat(string(o.Add[k]), 64)
		p.Properties[k] = json.RawMessage(strconv.FormatFloat(cur+add, 'f', -1, 64))
	}
	p.appendOrRemove(o.Append, true)
	p.appendOrRemove(o.Remove, false)
	for _, k := range o.Unset {
		switch {
		case isChannel(k):
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
func (p *Profile) appendOrRemove(m map[string]json.RawMessage, add bool) {
	if len(m) == 0 {
		return
	}
	provider := str(m["$id_provider"])
	if provider == "" {
		provider = str(m["$pushvendor"])
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		switch {
		case providerKeys[k]:
		case isChannel(k):
			i := slices.IndexFunc(p.Channels[k], func(c Channel) bool { return sameRaw(c.Value, v) })
			switch {
			case add && i < 0:
				c := Channel{Value: v}
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
		case add:
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
		default:
			list, ok := p.Properties[k].([]json.RawMessage)
			if raw, isRaw := p.Properties[k].(json.RawMessage); isRaw {
				ok = json.Unmarshal(raw, &list) == nil
			}
			if ok {
				p.Properties[k] = slices.DeleteFunc(list, func(x json.RawMessage) bool { return sameRaw(x, v) })
			}
		}
	}
}

// str decodes a JSON string; "" for anything else.
func str(raw json.RawMessage) string {
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
