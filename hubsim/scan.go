package hubsim

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// This file is a strict JSON scanner over a request body: it accepts exactly what json.Valid
// accepts (RFC 8259 grammar, control characters refused in strings, nesting at most 10000
// deep, any bytes >= 0x80 in strings) and works on offsets, so that values stay as sent.

// maxDepth is encoding/json's nesting limit: json.Valid refuses deeper texts.
const maxDepth = 10000

// scanner walks b from i. A method that fails leaves ok false; callers stop at the first failure.
type scanner struct {
	b     []byte
	i     int
	depth int
}

// plainString marks the bytes a string may hold without a closer look: not '"', '\\', a
// control character or a byte >= 0x80.
var plainString = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the byte at i, or 0 at the end.
func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// strSpan is a scanned string: its content is b[start:end]; esc says it holds escapes, wide that it
// holds bytes >= 0x80.
type strSpan struct {
	start, end int
	esc, wide  bool
}

// string scans the string whose opening quote is at i.
func (s *scanner) string() (strSpan, bool) {
	b := s.b
	i := s.i + 1
	out := strSpan{start: i}
	for {
		for i < len(b) && plainString[b[i]] {
			i++
		}
		if i >= len(b) {
			return out, false
		}
		switch c := b[i]; {
		case c == '"':
			out.end = i
			s.i = i + 1
			return out, true
		case c == '\\':
			out.esc = true
			if i+1 >= len(b) {
				return out, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return out, false
				}
				i += 6
			default:
				return out, false
			}
		case c < 0x20:
			return out, false
		default: // >= 0x80: json.Valid does not check UTF-8
			out.wide = true
			i++
		}
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number scans a number at i; plain reports a short integer (no fraction, no exponent, at
// most 15 digits), which float64 always holds.
func (s *scanner) number() (plain, ok bool) {
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return false, false
	}
	plain = i-start <= 15
	if i < len(b) && b[i] == '.' {
		plain = false
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return false, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		plain = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return false, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	s.i = i
	return plain, true
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// open enters an object or array whose bracket is at i.
func (s *scanner) open() bool {
	s.i++
	s.depth++
	return s.depth <= maxDepth
}

// value skips the value at i (no leading space), checking it.
func (s *scanner) value() bool {
	switch s.peek() {
	case '"':
		_, ok := s.string()
		return ok
	case '{':
		if !s.open() {
			return false
		}
		s.ws()
		if s.peek() == '}' {
			s.i++
			s.depth--
			return true
		}
		for {
			if s.peek() != '"' {
				return false
			}
			if _, ok := s.string(); !ok {
				return false
			}
			if !s.colon() || !s.value() {
				return false
			}
			if end, ok := s.next('}'); !ok || end {
				return ok
			}
		}
	case '[':
		if !s.open() {
			return false
		}
		s.ws()
		if s.peek() == ']' {
			s.i++
			s.depth--
			return true
		}
		for {
			if !s.value() {
				return false
			}
			if end, ok := s.next(']'); !ok || end {
				return ok
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		_, ok := s.number()
		return ok
	}
}

// colon skips the ':' after a key and the space around it.
func (s *scanner) colon() bool {
	s.ws()
	if s.peek() != ':' {
		return false
	}
	s.i++
	s.ws()
	return true
}

// next moves past the space after a member or element and then past ',' (end false) or the
// closing bracket (end true, leaving the container).
func (s *scanner) next(closing byte) (end, ok bool) {
	s.ws()
	switch s.peek() {
	case ',':
		s.i++
		s.ws()
		return false, true
	case closing:
		s.i++
		s.depth--
		return true, true
	}
	return false, false
}

// text returns the decoded content of a scanned string: the bytes themselves when they need no
// decoding, else what encoding/json makes of them (escapes resolved, bad UTF-8 replaced).
func (s *scanner) text(t strSpan) []byte {
	raw := s.b[t.start:t.end]
	if !t.esc && (!t.wide || utf8.Valid(raw)) {
		return raw
	}
	var v string
	if json.Unmarshal(s.b[t.start-1:t.end+1], &v) != nil {
		return nil // cannot happen: the string was checked
	}
	return []byte(v)
}

// isFloat reports whether a JSON number, already checked, is one strconv takes (not out
// of float64's range), as hubsim has always required.
func isFloat(raw []byte, plain bool) bool {
	if plain {
		return true
	}
	_, err := strconv.ParseFloat(string(raw), 64)
	return err == nil
}
