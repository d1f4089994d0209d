package hubsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Operation keys, in the order an op object's parts apply (the SDKs' order).
var opKeys = []string{"$set", "$set_once", "$add", "$append", "$remove", "$unset"}

// Channel keys of $append/$remove/$unset, and the provider keys of push channels.
var (
	stringChannels = map[string]bool{"$email": true, "$sms": true, "$whatsapp": true, "$androidpush": true, "$iospush": true}
	objectChannels = map[string]bool{"$webpush": true, "$slack": true, "$ms_teams": true}
	providerKeys   = map[string]bool{"$id_provider": true, "$pushvendor": true}
)

func isChannel(k string) bool { return stringChannels[k] || objectChannels[k] }

// event is a validated identity event.
type event struct {
	InsertID   string
	DistinctID string
	Ops        []op
}

// op is one element of $user_operations. Values stay raw JSON: hubsim stores them as sent.
type op struct {
	Set, SetOnce, Add, Append, Remove map[string]json.RawMessage
	Unset                             []string
}

// wireEvent holds the fields hubsim checks; others (properties, …) are accepted as they are.
type wireEvent struct {
	Schema     json.RawMessage              `json:"$schema"`
	InsertID   json.RawMessage              `json:"$insert_id"`
	Time       json.RawMessage              `json:"$time"`
	Env        json.RawMessage              `json:"env"`
	DistinctID json.RawMessage              `json:"distinct_id"`
	Ops        []map[string]json.RawMessage `json:"$user_operations"`
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

// parseEvent validates one raw event against key and the reject pattern (may be nil).
func parseEvent(raw json.RawMessage, key string, reject *regexp.Regexp, rejectMsg string) (event, string, error) {
	if len(raw) > MaxEventBytes {
		return event{}, "event_too_large", fmt.Errorf("event size too big - %d bytes, must not cross %d", len(raw), MaxEventBytes)
	}
	var w wireEvent
	if err := json.Unmarshal(raw, &w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "$user_operations" {
			return event{}, "invalid_event", fmt.Errorf("$user_operations must be an array of objects")
		}
		return event{}, "invalid_event", fmt.Errorf("not a JSON object: %v", err)
	}
	var ev event
	var schema, env string
	switch {
	case json.Unmarshal(w.Schema, &schema) != nil || schema != "2":
		return ev, "invalid_event", fmt.Errorf(`$schema must be "2"`)
	case json.Unmarshal(w.InsertID, &ev.InsertID) != nil || ev.InsertID == "":
		return ev, "invalid_event", fmt.Errorf("$insert_id must be a non-empty string")
	case !isNumber(w.Time):
		return ev, "invalid_event", fmt.Errorf("$time must be a number")
	case json.Unmarshal(w.Env, &env) != nil || env != key:
		return ev, "invalid_event", fmt.Errorf("env must be the workspace key")
	case json.Unmarshal(w.DistinctID, &ev.DistinctID) != nil || strings.TrimSpace(ev.DistinctID) == "":
		return ev, "invalid_event", fmt.Errorf("distinct_id must be a non-empty string")
	}
	if w.Ops == nil {
		return ev, "invalid_event", fmt.Errorf("$user_operations must be an array of objects")
	}
	ev.Ops = make([]op, 0, len(w.Ops))
	for i, ro := range w.Ops {
		o, err := parseOp(ro)
		if err != nil {
			return ev, "invalid_event", fmt.Errorf("$user_operations[%d]: %v", i, err)
		}
		ev.Ops = append(ev.Ops, o)
	}
	if reject != nil && reject.MatchString(ev.DistinctID) {
		return ev, "refused_distinct_id", fmt.Errorf("distinct_id %q: %s", ev.DistinctID, rejectMsg)
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
		var err error
		switch k {
		case "$set":
			o.Set, err = object(k, v)
		case "$set_once":
			o.SetOnce, err = object(k, v)
		case "$add":
			if o.Add, err = object(k, v); err == nil {
				for p, val := range o.Add {
					if !isNumber(val) {
						return o, fmt.Errorf("$add.%s must be a number", p)
					}
				}
			}
		case "$append":
			if o.Append, err = object(k, v); err == nil {
				err = checkChannels(k, o.Append)
			}
		case "$remove":
			if o.Remove, err = object(k, v); err == nil {
				err = checkChannels(k, o.Remove)
			}
		case "$unset":
			if json.Unmarshal(v, &o.Unset) != nil {
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

func object(name string, raw json.RawMessage) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%s must be an object", name)
	}
	return m, nil
}

func checkChannels(name string, m map[string]json.RawMessage) error {
	for k, v := range m {
		switch {
		case stringChannels[k]:
			var s string
			if json.Unmarshal(v, &s) != nil || strings.TrimSpace(s) == "" {
				return fmt.Errorf("%s.%s must be a non-empty string", name, k)
			}
		case objectChannels[k]:
			if len(v) == 0 || v[0] != '{' {
				return fmt.Errorf("%s.%s must be an object", name, k)
			}
		case providerKeys[k]:
			var s *string
			if json.Unmarshal(v, &s) != nil {
				return fmt.Errorf("%s.%s must be a string", name, k)
			}
		}
	}
	return nil
}
