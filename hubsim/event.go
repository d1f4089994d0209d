package hubsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Channel keys of $append/$remove/$unset, and the provider keys of push channels.
const (
	chNone     = iota
	chString   // $email, $sms, $whatsapp, $androidpush, $iospush: a non-empty string
	chObject   // $webpush, $slack, $ms_teams: an object
	chProvider // $id_provider, $pushvendor: a string or null
)

// channelKind says what key is among the channel and provider keys.
func channelKind(key []byte) int {
	switch string(key) {
	case "$email", "$sms", "$whatsapp", "$androidpush", "$iospush":
		return chString
	case "$webpush", "$slack", "$ms_teams":
		return chObject
	case "$id_provider", "$pushvendor":
		return chProvider
	}
	return chNone
}

func isChannel(k []byte) bool {
	c := channelKind(k)
	return c == chString || c == chObject
}

// event is a validated identity event. Its slices may point into the request body: the store
// copies what it keeps.
type event struct {
	insertID   []byte
	distinctID []byte // decoded
	ops        []op
}

// op is one element of $user_operations. Each part's members are sorted by key, one per key;
// values stay raw JSON: hubsim stores them as sent.
type op struct {
	set, setOnce, add, append, remove []kv
	unset                             []string
}

// kv is a member of an operation's object: the decoded key and the value as sent.
type kv struct{ key, val []byte }

// wireEvent holds the fields hubsim checks; others (properties, …) are accepted as they are.
type wireEvent struct {
	Schema     json.RawMessage `json:"$schema"`
	InsertID   json.RawMessage `json:"$insert_id"`
	Time       json.RawMessage `json:"$time"`
	Env        json.RawMessage `json:"env"`
	DistinctID json.RawMessage `json:"distinct_id"`
	Ops        json.RawMessage `json:"$user_operations"`
}

// eventError is why one event of a request is invalid.
type eventError struct {
	Index int    `json:"index"`
	Cause string `json:"cause"` // stats label
	Msg   string `json:"error"`
}

// requestError is why a whole request is refused.
type requestError struct {
	Status int
	Cause  string
	Msg    string
	Events []eventError
}

// splitBody returns the raw events of a body: one object, or the elements of an array. The
// body is validated once; the elements are sub-slices of it.
func splitBody(body []byte) ([]json.RawMessage, *requestError) {
	if !json.Valid(body) {
		return nil, &requestError{Status: 400, Cause: "bad_json", Msg: "body is not a JSON event or array of events"}
	}
	trimmed := bytes.TrimSpace(body)
	if trimmed[0] != '[' {
		return []json.RawMessage{trimmed}, nil
	}
	raws := make([]json.RawMessage, 0, 64)
	depth, inStr, esc, start := 0, false, false, -1
	for i, c := range trimmed {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
			if depth == 1 && start < 0 {
				start = i
			}
		case '{', '[':
			if depth == 1 && start < 0 {
				start = i
			}
			depth++
		case '}', ']':
			depth--
			switch {
			case depth == 1 && start >= 0: // an object or array element closed
				raws = append(raws, trimmed[start:i+1])
				start = -1
			case depth == 0 && start >= 0: // the last element was a scalar
				raws = append(raws, bytes.TrimSpace(trimmed[start:i]))
				start = -1
			}
		case ',':
			if depth == 1 && start >= 0 {
				raws = append(raws, bytes.TrimSpace(trimmed[start:i]))
				start = -1
			}
		case ' ', '\t', '\n', '\r':
		default:
			if depth == 1 && start < 0 {
				start = i
			}
		}
		if len(raws) > MaxEvents {
			return nil, &requestError{Status: 400, Cause: "too_many_events",
				Msg: fmt.Sprintf("more than %d events in one request", MaxEvents)}
		}
	}
	return raws, nil
}

// parseEventRef validates one raw event against key with encoding/json; it is the reference
// the fast path (parse.go) defers to, and gives every error message. It does not check the
// size nor the reject pattern (see checkEvent).
func parseEventRef(raw json.RawMessage, key string) (event, string, error) {
	var w wireEvent
	if err := json.Unmarshal(raw, &w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "$user_operations" {
			return event{}, "invalid_event", fmt.Errorf("$user_operations must be an array of objects")
		}
		return event{}, "invalid_event", fmt.Errorf("not a JSON object: %v", err)
	}
	var ev event
	var schema, env, insertID, distinctID string
	switch {
	case json.Unmarshal(w.Schema, &schema) != nil || schema != "2":
		return ev, "invalid_event", fmt.Errorf(`$schema must be "2"`)
	case json.Unmarshal(w.InsertID, &insertID) != nil || insertID == "":
		return ev, "invalid_event", fmt.Errorf("$insert_id must be a non-empty string")
	case !isNumber(w.Time):
		return ev, "invalid_event", fmt.Errorf("$time must be a number")
	case json.Unmarshal(w.Env, &env) != nil || env != key:
		return ev, "invalid_event", fmt.Errorf("env must be the workspace key")
	case json.Unmarshal(w.DistinctID, &distinctID) != nil || strings.TrimSpace(distinctID) == "":
		return ev, "invalid_event", fmt.Errorf("distinct_id must be a non-empty string")
	}
	ev.insertID, ev.distinctID = []byte(insertID), []byte(distinctID)
	// null is no operations: the Go SDK 0.5.0 sends it for a user without operations.
	var ops []map[string]json.RawMessage
	if w.Ops == nil || (string(w.Ops) != "null" && (json.Unmarshal(w.Ops, &ops) != nil || ops == nil)) {
		return ev, "invalid_event", fmt.Errorf("$user_operations must be an array of objects")
	}
	ev.ops = make([]op, 0, len(ops))
	for i, ro := range ops {
		o, err := parseOp(ro)
		if err != nil {
			return ev, "invalid_event", fmt.Errorf("$user_operations[%d]: %v", i, err)
		}
		ev.ops = append(ev.ops, o)
	}
	return ev, "", nil
}

// checkEvent gives the verdict on one element of a request: its size, then its shape (from
// the fast path when it took the event, else from parseEventRef), then the reject pattern
// (may be nil).
func checkEvent(re *rawEvent, key string, reject *regexp.Regexp, rejectMsg string) (event, string, error) {
	if len(re.raw) > MaxEventBytes {
		return event{}, "event_too_large", fmt.Errorf("event size too big - %d bytes, must not cross %d", len(re.raw), MaxEventBytes)
	}
	ev := re.ev
	if !re.fast {
		var cause string
		var err error
		if ev, cause, err = parseEventRef(re.raw, key); err != nil {
			return ev, cause, err
		}
	}
	if reject != nil && reject.Match(ev.distinctID) {
		return ev, "refused_distinct_id", fmt.Errorf("distinct_id %q: %s", ev.distinctID, rejectMsg)
	}
	return ev, "", nil
}

func isNumber(raw json.RawMessage) bool {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return false
	}
	_, err := strconv.ParseFloat(string(raw), 64)
	return err == nil
}

func parseOp(ro map[string]json.RawMessage) (op, error) {
	var o op
	if ro == nil {
		return o, fmt.Errorf("operation must be an object")
	}
	for k, v := range ro {
		var m map[string]json.RawMessage
		var err error
		switch k {
		case "$set":
			m, err = object(k, v)
			o.set = sortedKVs(m)
		case "$set_once":
			m, err = object(k, v)
			o.setOnce = sortedKVs(m)
		case "$add":
			if m, err = object(k, v); err == nil {
				for p, val := range m {
					if !isNumber(val) {
						return o, fmt.Errorf("$add.%s must be a number", p)
					}
				}
			}
			o.add = sortedKVs(m)
		case "$append":
			if m, err = object(k, v); err == nil {
				err = checkChannels(k, m)
			}
			o.append = sortedKVs(m)
		case "$remove":
			if m, err = object(k, v); err == nil {
				err = checkChannels(k, m)
			}
			o.remove = sortedKVs(m)
		case "$unset":
			if json.Unmarshal(v, &o.unset) != nil {
				err = fmt.Errorf("$unset must be an array of strings")
			}
		default:
			err = fmt.Errorf("unknown operation %q", k)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

// sortKVs sorts m by key, stably (objects are small), and keeps the last of equal keys, as
// decoding into a map does.
func sortKVs(m []kv) []kv {
	for i := 1; i < len(m); i++ {
		for j := i; j > 0 && bytes.Compare(m[j-1].key, m[j].key) > 0; j-- {
			m[j-1], m[j] = m[j], m[j-1]
		}
	}
	w := 0
	for i := range m {
		if i+1 < len(m) && bytes.Equal(m[i].key, m[i+1].key) {
			continue
		}
		m[w] = m[i]
		w++
	}
	return m[:w]
}

// sortedKVs lists m's members sorted by key.
func sortedKVs(m map[string]json.RawMessage) []kv {
	out := make([]kv, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, kv{key: []byte(k), val: m[k]})
	}
	return out
}

func object(name string, raw json.RawMessage) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%s must be an object", name)
	}
	return m, nil
}

func checkChannels(name string, m map[string]json.RawMessage) error {
	for k, v := range m {
		switch channelKind([]byte(k)) {
		case chString:
			var s string
			if json.Unmarshal(v, &s) != nil || strings.TrimSpace(s) == "" {
				return fmt.Errorf("%s.%s must be a non-empty string", name, k)
			}
		case chObject:
			if len(v) == 0 || v[0] != '{' {
				return fmt.Errorf("%s.%s must be an object", name, k)
			}
		case chProvider:
			var s *string
			if json.Unmarshal(v, &s) != nil {
				return fmt.Errorf("%s.%s must be a string", name, k)
			}
		}
	}
	return nil
}
