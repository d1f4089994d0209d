package profile

import (
	"strconv"
	"unicode/utf8"
)

// checkJSON validates data in one pass: a single JSON value (RFC 8259) in valid UTF-8, nested
// at most maxDepth deep. It is what lets the walkers in scan.go trust their input. Given an
// index, it also records where each object and array ends, so that the walkers step over a
// nested value in O(log n) instead of rescanning it: decoding stays linear in the input
// however deep the values nest.

const maxDepth = 1000

type syntaxErr struct {
	pos int
	msg string
}

// strPlain marks bytes that need no attention inside a string: printable ASCII but '"', '\\'.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// containers records the objects and arrays of one JSON text in the order they open (so by
// increasing start offset): start[k] is the offset of a '{' or '[', end[k] the offset just past
// its closing bracket.
// spaced says whether white space was seen between the tokens inside a container; without it,
// a value is already compact.
type containers struct {
	start, end []int
	spaced     bool
}

func (c *containers) reset() {
	if c != nil {
		c.start, c.end, c.spaced = c.start[:0], c.end[:0], false
	}
}

// skipWS is skipWS that records in c (when not nil) whether there was white space to skip.
func (c *containers) skipWS(data []byte, i int) int {
	j := skipWS(data, i)
	if j != i && c != nil {
		c.spaced = true
	}
	return j
}

// endOf returns the offset just past the container that opens at i, which must be recorded.
func (c *containers) endOf(i int) int {
	lo, hi := 0, len(c.start)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if c.start[m] < i {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return c.end[lo]
}

func checkJSON(data []byte) *Error { return checkJSONIndex(data, nil) }

// checkJSONIndex is checkJSON that also fills ix (when not nil) with data's containers.
func checkJSONIndex(data []byte, ix *containers) *Error {
	ix.reset()
	i := skipWS(data, 0)
	i, e := checkValue(data, i, 0, ix)
	if e == nil {
		if i = skipWS(data, i); i < len(data) {
			e = &syntaxErr{i, "unexpected " + charAt(data, i) + " after the top-level value"}
		}
	}
	if e != nil {
		return &Error{Reason: ReasonInvalidJSON, Msg: "invalid JSON at byte " + strconv.Itoa(e.pos) + ": " + e.msg}
	}
	return nil
}

func charAt(data []byte, i int) string {
	if i >= len(data) {
		return "end of input"
	}
	r, _ := utf8.DecodeRune(data[i:])
	if r == utf8.RuneError {
		return "byte 0x" + strconv.FormatUint(uint64(data[i]), 16)
	}
	return "character " + strconv.QuoteRune(r)
}

func checkValue(data []byte, i, depth int, ix *containers) (int, *syntaxErr) {
	if i >= len(data) {
		return i, &syntaxErr{i, "unexpected end of input, expecting a value"}
	}
	switch c := data[i]; c {
	case '"':
		return checkString(data, i)
	case '{', '[':
		if depth >= maxDepth {
			return i, &syntaxErr{i, "nested deeper than " + strconv.Itoa(maxDepth)}
		}
		return checkContainer(data, i, depth+1, ix)
	case 't':
		return checkLiteral(data, i, "true")
	case 'f':
		return checkLiteral(data, i, "false")
	case 'n':
		return checkLiteral(data, i, "null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			return checkNumber(data, i)
		}
		return i, &syntaxErr{i, "unexpected " + charAt(data, i) + ", expecting a value"}
	}
}

func checkContainer(data []byte, i, depth int, ix *containers) (int, *syntaxErr) {
	if ix == nil {
		return checkMembers(data, i, depth, nil)
	}
	k := len(ix.start)
	ix.start = append(ix.start, i)
	ix.end = append(ix.end, 0)
	end, e := checkMembers(data, i, depth, ix)
	ix.end[k] = end
	return end, e
}

// checkMembers checks the members of the object or array that opens at i.
func checkMembers(data []byte, i, depth int, ix *containers) (int, *syntaxErr) {
	obj := data[i] == '{'
	end := byte(']')
	if obj {
		end = '}'
	}
	i = ix.skipWS(data, i+1)
	if i < len(data) && data[i] == end {
		return i + 1, nil
	}
	for {
		var e *syntaxErr
		if obj {
			if i >= len(data) || data[i] != '"' {
				return i, &syntaxErr{i, "unexpected " + charAt(data, i) + ", expecting a key string"}
			}
			if i, e = checkString(data, i); e != nil {
				return i, e
			}
			if i = ix.skipWS(data, i); i >= len(data) || data[i] != ':' {
				return i, &syntaxErr{i, "unexpected " + charAt(data, i) + ", expecting ':'"}
			}
			i = ix.skipWS(data, i+1)
		}
		if i, e = checkValue(data, i, depth, ix); e != nil {
			return i, e
		}
		i = ix.skipWS(data, i)
		if i < len(data) && data[i] == ',' {
			i = ix.skipWS(data, i+1)
			continue
		}
		if i < len(data) && data[i] == end {
			return i + 1, nil
		}
		return i, &syntaxErr{i, "unexpected " + charAt(data, i) + ", expecting ',' or '" + string(end) + "'"}
	}
}

func checkString(data []byte, i int) (int, *syntaxErr) {
	i++
	for i < len(data) {
		c := data[i]
		if strPlain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(data) {
				return i + 1, &syntaxErr{i + 1, "unexpected end of input in a string"}
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) || !isHex(data[i+5]) {
					return i, &syntaxErr{i, `invalid \u escape in a string`}
				}
				i += 6
			default:
				return i, &syntaxErr{i, "invalid escape " + strconv.Quote(string(data[i:i+2])) + " in a string"}
			}
		case c < 0x20:
			return i, &syntaxErr{i, "control character " + strconv.QuoteRune(rune(c)) + " in a string"}
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return i, &syntaxErr{i, "invalid UTF-8 in a string"}
			}
			i += size
		}
	}
	return i, &syntaxErr{i, "unexpected end of input in a string"}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func checkLiteral(data []byte, i int, lit string) (int, *syntaxErr) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, &syntaxErr{i, "unexpected " + charAt(data, i) + ", expecting a value"}
	}
	return i + len(lit), nil
}

func checkNumber(data []byte, i int) (int, *syntaxErr) {
	start := i
	bad := func(j int) (int, *syntaxErr) {
		return j, &syntaxErr{j, "invalid number " + strconv.Quote(string(data[start:min(j+1, len(data))]))}
	}
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		return bad(i)
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return bad(i)
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return bad(i)
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	return i, nil
}
