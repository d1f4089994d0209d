package mapping

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/profile-ingest/profile-ingest/profile"
)

// op is one operation of the v1 message a record means, and the source field it came from.
type op struct {
	name  string          // add_email, remove_sms, set, unset, ...
	value json.RawMessage // its argument
	src   string          // where it came from: "after.email", "traits"
}

// message is the v1 mutation message a record means, with where its fields came from.
type message struct {
	distinctID    string
	distinctIDSrc string
	eventID       string
	eventIDSrc    string
	ms            int64 // -1: none, the record's timestamp is used
	timeSrc       string
	ops           []op
}

// set and unset gather property operations into one `set` and one `unset`.
type props struct {
	set   []string // keys, in order
	vals  map[string]json.RawMessage
	unset []string
	src   string
}

func newProps(src string) *props { return &props{vals: map[string]json.RawMessage{}, src: src} }

func (p *props) put(k string, v json.RawMessage) {
	if isNull(v) {
		p.unset = append(p.unset, k)
		return
	}
	p.set = append(p.set, k)
	p.vals[k] = v
}

// ops appends the set and the unset operation, if any.
func (p *props) ops(ops []op) []op {
	if len(p.set) > 0 {
		var b bytes.Buffer
		b.WriteByte('{')
		for i, k := range p.set {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(jsonString(k))
			b.WriteByte(':')
			b.Write(p.vals[k])
		}
		b.WriteByte('}')
		ops = append(ops, op{"set", b.Bytes(), p.src})
	}
	if len(p.unset) > 0 {
		raw, _ := json.Marshal(p.unset)
		ops = append(ops, op{"unset", raw, p.src})
	}
	return ops
}

// decode builds the v1 message and decodes it with dec, so that every rule of the mutation
// format holds; an error is rewritten to name the source field.
func (msg *message) decode(origin profile.Origin, dec *profile.Decoder) (profile.Event, error) {
	var b bytes.Buffer
	b.WriteString(`{"distinct_id":`)
	b.Write(jsonString(msg.distinctID))
	if msg.eventID != "" {
		b.WriteString(`,"event_id":`)
		b.Write(jsonString(msg.eventID))
	}
	if msg.ms >= 0 {
		b.WriteString(`,"time":`)
		b.WriteString(strconv.FormatInt(msg.ms, 10))
	}
	b.WriteString(`,"operations":[`)
	for i, o := range msg.ops {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		b.Write(jsonString(o.name))
		b.WriteByte(':')
		b.Write(o.value)
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	ev, err := dec.Decode(b.Bytes(), origin)
	if err == nil {
		return ev, nil
	}
	pe, ok := err.(*profile.Error)
	if !ok {
		return ev, err
	}
	out := *pe
	switch {
	case pe.Field == "distinct_id":
		out.Field = msg.distinctIDSrc
	case pe.Field == "event_id":
		out.Field = msg.eventIDSrc
	case pe.Field == "time":
		out.Field = msg.timeSrc
	case strings.HasPrefix(pe.Field, "operations["):
		rest := pe.Field[len("operations["):]
		if end := strings.IndexByte(rest, ']'); end > 0 {
			if i, err := strconv.Atoi(rest[:end]); err == nil && i < len(msg.ops) {
				what := strings.TrimPrefix(rest[end+1:], ".")
				if what == "" {
					what = msg.ops[i].name
				}
				out.Field = msg.ops[i].src + " (as " + what + ")"
			}
		}
	}
	return profile.Event{}, &out
}

func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n")
}

func isNull(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

// absent reports whether a channel value means "no channel": missing, null or "".
func absent(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return isNull(v) || string(v) == `""`
}

// object parses v as a JSON object; a JSON string holding an object (a json/jsonb column as
// Debezium sends it) counts too. ok is false for anything else.
func object(v json.RawMessage) (map[string]json.RawMessage, bool) {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, false
		}
		v = []byte(strings.TrimSpace(s))
	}
	if len(v) == 0 || v[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(v, &m) != nil {
		return nil, false
	}
	return m, true
}

// objectValue is v as an operation argument: the object a JSON string holds, else v itself (so
// that the decoder names what is wrong with it).
func objectValue(v json.RawMessage) json.RawMessage {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			if t := bytes.TrimSpace([]byte(s)); len(t) > 0 && t[0] == '{' && json.Valid(t) {
				return t
			}
		}
	}
	return v
}

// idText is a distinct_id value as text: a string, or an integer as written.
func idText(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", false
	}
	switch c := v[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	case c == '-' || c >= '0' && c <= '9':
		if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return string(v), true
		}
	}
	return "", false
}

// kind names a JSON value's type for an error.
func kind(v json.RawMessage) string { return profile.KindName(v) }

// checkJSON refuses what is not one JSON object in UTF-8, as profile.Decoder does.
func checkJSON(value []byte) (map[string]json.RawMessage, error) {
	if err := profile.CheckJSON(value); err != nil {
		return nil, err
	}
	v := bytes.TrimSpace(value)
	if v[0] != '{' {
		return nil, &profile.Error{Reason: profile.ReasonInvalidMessage, Msg: "the message must be a JSON object, got " + kind(v)}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(v, &top); err != nil {
		return nil, &profile.Error{Reason: profile.ReasonInvalidJSON, Msg: "the record is not one well-formed JSON object"}
	}
	return top, nil
}

func invalid(field, msg string) error {
	return &profile.Error{Reason: profile.ReasonInvalidMessage, Field: field, Msg: msg}
}

// pushValue is an add_/remove_ push argument: the token alone, or {"token","provider"}.
func pushValue(token, provider json.RawMessage, fixed string) json.RawMessage {
	switch {
	case fixed != "":
		return json.RawMessage(`{"token":` + string(bytes.TrimSpace(token)) + `,"provider":` + string(jsonString(fixed)) + `}`)
	case !isNull(provider):
		return json.RawMessage(`{"token":` + string(bytes.TrimSpace(token)) + `,"provider":` + string(bytes.TrimSpace(provider)) + `}`)
	}
	return bytes.TrimSpace(token)
}
