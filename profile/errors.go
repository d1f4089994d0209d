package profile

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Reason is the stable, machine-readable cause of a rejection. It is meant for the dead-letter
// topic's headers and for metric labels, so its values never change once released.
type Reason string

const (
	// ReasonInvalidJSON: the record's value is not one well-formed JSON text in UTF-8.
	ReasonInvalidJSON Reason = "invalid_json"
	// ReasonInvalidMessage: the JSON is well formed but the message around the operations is not
	// a v1 message or an identity event: it is not an object, or distinct_id, time, event_id,
	// $schema, $insert_id, $time, env or properties is missing or wrong, or it has an unknown field.
	ReasonInvalidMessage Reason = "invalid_message"
	// ReasonInvalidOperation: one operation is unknown, malformed, or fails a rule of the SDK
	// (email or mobile format, push provider, reserved key, language code, ...). The error's
	// Field names the operation's index.
	ReasonInvalidOperation Reason = "invalid_operation"
	// ReasonTooLarge: the identity event, as it would be sent, is over MaxEventBytes.
	ReasonTooLarge Reason = "too_large"
)

// Error is the rejection of one message. Decode returns no other error type.
type Error struct {
	Reason Reason // why, stable and machine-readable
	Field  string // where: "distinct_id", "operations[3].add_email", "$user_operations[0].$set.plan"; "" for the whole message
	Msg    string // what rule failed, quoting (a prefix of) the offending value
}

// Error returns Field + ": " + Msg, or Msg alone when Field is empty.
func (e *Error) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Code is an HTTP-like status for the rejection: always 400, the message is bad and retrying it
// cannot help. (Options are checked by NewDecoder, so no rejection is the worker's own fault.)
func (e *Error) Code() int { return 400 }

// maxQuoted is how many bytes of an offending value an error message quotes.
const maxQuoted = 64

// quote returns b as a Go-quoted string, cut to maxQuoted bytes (on a rune boundary) with "…".
func quote(b []byte) string {
	cut := false
	if len(b) > maxQuoted {
		n := maxQuoted
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		b, cut = b[:n], true
	}
	s := string(b)
	if cut {
		s += "…"
	}
	return strconv.Quote(s)
}

// loc says where in the message a rule is checked. It is cheap to carry on the success path;
// the Field string is built only when an error is reported.
type loc struct {
	list string // "operations" or "$user_operations"
	idx  int
	name string // operation name: "add_email", "set", "$append"; may be ""
	key  []byte // key inside the operation's object; may be nil
}

func (l loc) field() string {
	var sb strings.Builder
	sb.WriteString(l.list)
	sb.WriteByte('[')
	sb.WriteString(strconv.Itoa(l.idx))
	sb.WriteByte(']')
	if l.name != "" {
		sb.WriteByte('.')
		sb.WriteString(l.name)
	}
	if l.key != nil {
		if plainKey(l.key) {
			sb.WriteByte('.')
			sb.Write(l.key)
		} else {
			sb.WriteByte('[')
			sb.WriteString(quote(l.key))
			sb.WriteByte(']')
		}
	}
	return sb.String()
}

func (l loc) withKey(k []byte) loc {
	l.key = k
	return l
}

func (l loc) err(msg string) *Error {
	return &Error{Reason: ReasonInvalidOperation, Field: l.field(), Msg: msg}
}

// plainKey reports whether k can follow a dot in a Field path unquoted.
func plainKey(k []byte) bool {
	if len(k) == 0 || len(k) > maxQuoted {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		case c == '$' && i == 0:
		default:
			return false
		}
	}
	return true
}

func messageErr(field, msg string) *Error {
	return &Error{Reason: ReasonInvalidMessage, Field: field, Msg: msg}
}
