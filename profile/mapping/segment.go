package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/profile-ingest/profile-ingest/profile"
)

// segmentOther are the Segment-spec call types other than identify: committed past, counted by
// their own skip reason ("segment_track", ...).
var segmentOther = map[string]bool{"track": true, "page": true, "screen": true, "group": true, "alias": true}

// Segment decodes Segment-spec calls (Segment, RudderStack and others) through a Mapping: an
// identify call becomes an identity event; every other call type is a *profile.Skip. Build it
// with NewSegment; it is safe for concurrent use.
type Segment struct {
	m        Mapping
	dec      *profile.Decoder // the mutation format's rules, options checked once
	channels []channel
	mapped   map[string]bool // keys of traits mapped to something else
}

// NewSegment validates m and returns a decoder.
func NewSegment(m Mapping, dec *profile.Decoder) (*Segment, error) {
	if err := m.Validate(FormatSegment); err != nil {
		return nil, err
	}
	if dec == nil {
		return nil, errors.New("mapping: a profile.Decoder is required")
	}
	s := &Segment{m: m, dec: dec, channels: m.channelList(), mapped: map[string]bool{}}
	for _, f := range m.fields() {
		if k, ok := strings.CutPrefix(f.path, "traits."); ok && !strings.Contains(k, ".") {
			s.mapped[k] = true
		}
	}
	return s, nil
}

// Decode turns one Segment call into the identity event it means. Calls other than identify,
// and identify calls with only an anonymousId (no user yet), are a *profile.Skip; any other
// error is a *profile.Error. It never panics.
func (s *Segment) Decode(value []byte, origin profile.Origin) (profile.Event, error) {
	top, err := checkJSON(value)
	if err != nil {
		return profile.Event{}, err
	}
	tv, ok := top["type"]
	if !ok {
		return profile.Event{}, invalid("type", "is missing: this is not a Segment-spec call (is the topic's format right?)")
	}
	var typ string
	if json.Unmarshal(tv, &typ) != nil {
		return profile.Event{}, invalid("type", "must be a string, got "+kind(tv))
	}
	if segmentOther[typ] {
		return profile.Event{}, &profile.Skip{Reason: "segment_" + typ, Msg: "a Segment " + typ + " call; only identify calls change profiles"}
	}
	if typ != "identify" {
		return profile.Event{}, invalid("type", strconv.Quote(typ)+" is not a Segment call type: identify, track, page, screen, group or alias")
	}
	get := func(path string) json.RawMessage { return lookup(top, path) }
	msg := &message{ms: -1, distinctIDSrc: s.m.DistinctID}
	idv := get(s.m.DistinctID)
	if absent(idv) {
		if !absent(top["anonymousId"]) {
			return profile.Event{}, &profile.Skip{Reason: "segment_anonymous", Msg: "an identify call with an anonymousId and no " + s.m.DistinctID}
		}
		return profile.Event{}, invalid(s.m.DistinctID, "is missing: an identify call needs it (the mapping's distinct_id)")
	}
	id, ok := idText(idv)
	if !ok {
		return profile.Event{}, invalid(s.m.DistinctID, "must be a string or an integer, got "+kind(idv))
	}
	msg.distinctID = id
	if v, ok := top["messageId"]; ok && !isNull(v) {
		if json.Unmarshal(v, &msg.eventID) != nil {
			return profile.Event{}, invalid("messageId", "must be a string, got "+kind(v))
		}
		msg.eventIDSrc = "messageId"
	}
	if v, ok := top["timestamp"]; ok && !isNull(v) {
		var ts string
		if json.Unmarshal(v, &ts) != nil {
			return profile.Event{}, invalid("timestamp", "must be an ISO 8601 string, got "+kind(v))
		}
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || t.UnixMilli() < 0 {
			return profile.Event{}, invalid("timestamp", strconv.Quote(ts)+" is not an ISO 8601 time such as \"2024-05-01T12:00:00.000Z\"")
		}
		msg.ms, msg.timeSrc = t.UnixMilli(), "timestamp"
	}
	for _, c := range s.channels {
		if a, ok := c.arg(get); ok {
			msg.ops = append(msg.ops, op{"add_" + c.name, a, c.field})
		}
	}
	for _, r := range []struct{ field, name string }{{s.m.PreferredLanguage, "set_preferred_language"}, {s.m.Timezone, "set_timezone"}} {
		if r.field == "" {
			continue
		}
		if v := get(r.field); !absent(v) {
			msg.ops = append(msg.ops, op{r.name, bytes.TrimSpace(v), r.field})
		}
	}
	if tr, ok := top["traits"]; ok && !isNull(tr) {
		traits, ok := objectOnly(tr)
		if !ok {
			return profile.Event{}, invalid("traits", "must be an object, got "+kind(tr))
		}
		p := newProps("traits")
		for _, k := range sortedKeys(traits) {
			if s.m.property(k, s.mapped) {
				p.put(k, bytes.TrimSpace(traits[k]))
			}
		}
		msg.ops = p.ops(msg.ops)
	}
	if len(msg.ops) == 0 {
		return profile.Event{}, &profile.Skip{Reason: "no_change", Msg: "an identify call with no mapped trait"}
	}
	return msg.decode(origin, s.dec)
}

// lookup follows a dotted path through nested objects; nil when a step is missing.
func lookup(top map[string]json.RawMessage, path string) json.RawMessage {
	cur := top
	parts := strings.Split(path, ".")
	for i, p := range parts {
		v, ok := cur[p]
		if !ok {
			return nil
		}
		if i == len(parts)-1 {
			return v
		}
		if cur, ok = objectOnly(v); !ok {
			return nil
		}
	}
	return nil
}
