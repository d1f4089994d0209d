package profile

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"sync"
	"unicode/utf8"
)

// checkJSON validates data in one pass: a single JSON value (RFC 8259) in valid UTF-8, nested
// at most maxDepth deep. It is what lets the walkers in scan.go trust their input. Given an
// index, it also records where each string, object and array ends, so that the walkers step
// over a value without rescanning it: decoding stays linear in the input however deep the
// values nest, and a string is scanned once.

const maxDepth = 1000

// maxStringDepth: the index records the strings in at most this many containers. The walkers
// look into a message 5 deep ($user_operations[i].$append.$webpush's keys); deeper values are
// copied whole, and recording their strings would cost more than it saves. endOf scans a
// string that was not recorded.
const maxStringDepth = 5

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

// valueIndex records the objects and arrays of one JSON text, and its strings (keys too) in at
// most maxStringDepth containers, in the order they open (so by increasing start offset):
// vals[k].start is the offset of a '"', '{' or '[', vals[k].end the offset just past its
// closing quote or bracket (one slice of pairs: one append a value, one cache line a lookup).
// spaced says whether white space was seen between the tokens inside a container; without it,
// a value is already compact.
type valueIndex struct {
	vals   []ival
	open   []int // scratch of check: the open containers, index in vals << 1 | 1 for an array
	spaced bool
	next   int // where endOf starts looking: the walkers ask in increasing order
}

type ival struct{ start, end int }

func (c *valueIndex) reset() {
	if c != nil {
		c.vals, c.spaced, c.next = c.vals[:0], false, 0
	}
}

// skipWS is skipWS that records in c whether there was white space to skip.
func (c *valueIndex) skipWS(data []byte, i int) int {
	if i < len(data) && !isWS(data[i]) {
		return i
	}
	j := skipWS(data, i)
	if j != i {
		c.spaced = true
	}
	return j
}

// endOf returns the offset just past the string or container that opens at i in data, the
// text c indexes. The walkers visit values in the order they open, so endOf looks forward from
// the last value it found, in amortised constant time; it searches the whole index when asked
// about an earlier one, and scans a string it does not hold.
func (c *valueIndex) endOf(data []byte, i int) int {
	if k := c.next; k < len(c.vals) && c.vals[k].start == i { // the usual case: the next value
		c.next = k + 1
		return c.vals[k].end
	}
	return c.seek(data, i)
}

// seek is endOf when i is not the next value: past values nested in one the walker skipped,
// back, or a string that is not recorded.
func (c *valueIndex) seek(data []byte, i int) int {
	k := c.next
	if k < len(c.vals) && c.vals[k].start < i {
		for k < len(c.vals) && c.vals[k].start < i {
			k++
		}
	} else {
		lo, hi := 0, len(c.vals)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if c.vals[m].start < i {
				lo = m + 1
			} else {
				hi = m
			}
		}
		k = lo
	}
	c.next = k
	if k < len(c.vals) && c.vals[k].start == i {
		c.next = k + 1
		return c.vals[k].end
	}
	return skipString(data, i) // containers are all recorded: a deep string
}

func checkJSON(data []byte) *Error { return checkJSONIndex(data, nil) }

// checkJSONIndex is checkJSON that also fills ix (when not nil) with data's strings and
// containers.
func checkJSONIndex(data []byte, ix *valueIndex) *Error {
	if ix == nil {
		ix = indexPool.Get().(*valueIndex)
		defer indexPool.Put(ix)
	}
	ix.reset()
	if e := ix.check(data); e != nil {
		return &Error{Reason: ReasonInvalidJSON, Msg: "invalid JSON at byte " + strconv.Itoa(e.pos) + ": " + e.msg}
	}
	return nil
}

var indexPool = sync.Pool{New: func() any { return new(valueIndex) }}

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

// check validates data and records its values in c.
func (c *valueIndex) check(data []byte) *syntaxErr {
	i, e := c.checkValue(data, skipWS(data, 0), 0)
	if e != nil {
		return e
	}
	if i = skipWS(data, i); i < len(data) {
		return &syntaxErr{i, "unexpected " + charAt(data, i) + " after the top-level value"}
	}
	return nil
}

// checkValue validates the value at data[i] (no white space before it), inside depth
// containers, records it in c, and returns the offset just past it. It reads the tokens in one
// loop: the open containers are a stack (c.open), not a recursion.
func (c *valueIndex) checkValue(data []byte, i, depth int) (int, *syntaxErr) {
	var e *syntaxErr
	open := c.open[:0]
	defer func() { c.open = open[:0] }()
	// Each turn reads one value at i, then what follows it up to the next value.
	for {
		if i >= len(data) {
			return i, &syntaxErr{i, "unexpected end of input, expecting a value"}
		}
		switch ch := data[i]; ch {
		case '"':
			start := i
			if i, e = checkString(data, i); e != nil {
				return i, e
			}
			if depth+len(open) <= maxStringDepth {
				c.vals = append(c.vals, ival{start, i})
			}
		case '{', '[':
			if depth+len(open) >= maxDepth {
				return i, &syntaxErr{i, "nested deeper than " + strconv.Itoa(maxDepth)}
			}
			arr := 0
			if ch == '[' {
				arr = 1
			}
			open = append(open, len(c.vals)<<1|arr)
			c.vals = append(c.vals, ival{i, 0})
			i = c.skipWS(data, i+1)
			if i < len(data) && data[i] == ch+2 { // '}' or ']': empty
				i++
				c.vals[len(c.vals)-1].end = i
				open = open[:len(open)-1]
				break
			}
			if ch == '{' {
				if i, e = c.checkKey(data, i, depth+len(open) <= maxStringDepth); e != nil {
					return i, e
				}
			}
			continue
		case 't':
			if i, e = checkLiteral(data, i, "true"); e != nil {
				return i, e
			}
		case 'f':
			if i, e = checkLiteral(data, i, "false"); e != nil {
				return i, e
			}
		case 'n':
			if i, e = checkLiteral(data, i, "null"); e != nil {
				return i, e
			}
		default:
			if ch != '-' && (ch < '0' || ch > '9') {
				return i, &syntaxErr{i, "unexpected " + charAt(data, i) + ", expecting a value"}
			}
			if i, e = checkNumber(data, i); e != nil {
				return i, e
			}
		}
		// After a value: close the containers it ends, then a ',' leads to the next value.
		for {
			if len(open) == 0 {
				return i, nil
			}
			k := open[len(open)-1]
			end := byte(']')
			if k&1 == 0 {
				end = '}'
			}
			k >>= 1
			i = c.skipWS(data, i)
			if i < len(data) && data[i] == ',' {
				i = c.skipWS(data, i+1)
				if end == '}' {
					if i, e = c.checkKey(data, i, depth+len(open) <= maxStringDepth); e != nil {
						return i, e
					}
				}
				break
			}
			if i < len(data) && data[i] == end {
				i++
				c.vals[k].end = i
				open = open[:len(open)-1]
				continue
			}
			return i, &syntaxErr{i, "unexpected " + charAt(data, i) + ", expecting ',' or '" + string(end) + "'"}
		}
	}
}

// checkKey checks an object's key at i and the ':' after it, records the key when record is
// set, and returns the offset of the value.
func (c *valueIndex) checkKey(data []byte, i int, record bool) (int, *syntaxErr) {
	if i >= len(data) || data[i] != '"' {
		return i, &syntaxErr{i, "unexpected " + charAt(data, i) + ", expecting a key string"}
	}
	start := i
	i, e := checkString(data, i)
	if e != nil {
		return i, e
	}
	if record {
		c.vals = append(c.vals, ival{start, i})
	}
	if i = c.skipWS(data, i); i >= len(data) || data[i] != ':' {
		return i, &syntaxErr{i, "unexpected " + charAt(data, i) + ", expecting ':'"}
	}
	return c.skipWS(data, i+1), nil
}

func checkString(data []byte, i int) (int, *syntaxErr) {
	i++
	for i < len(data) {
		if i+8 <= len(data) {
			m := notPlain8(binary.LittleEndian.Uint64(data[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3 // to the first byte that is not plain
		}
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

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// notPlain8 tests the 8 bytes of x (read little-endian) at once for bytes that are not plain
// in a string (strPlain: printable ASCII other than '"' and '\\'), so that strings are scanned
// 8 bytes a step. It returns 0 when all are plain, else a mask whose lowest set bit is the top
// bit of the first byte that is not. (The "has a zero byte" tricks of Bit Twiddling Hacks:
// (v-lsb)&^v&msb marks the bytes of v that are 0, (x-n*lsb)&^x&msb those below n <= 128,
// exactly up to the first one marked; a borrow can mark bytes after it.)
func notPlain8(x uint64) uint64 {
	q := x ^ (lsb * '"')
	b := x ^ (lsb * '\\')
	return ((x-lsb*0x20)&^x | (q-lsb)&^q | (b-lsb)&^b | x) & msb
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

// The one-pass path (onepass.go) validates as it goes, with these two, which find where a
// string or value ends without recording it.

// scanString validates the string at data[i] ('"') and returns the offset past it, and whether
// it is plain: printable ASCII without escapes, the same bytes unquoted and as appendString
// writes them.
func scanString(data []byte, i int) (end int, plain, ok bool) {
	j := i + 1
	for j+8 <= len(data) {
		m := notPlain8(load64(data, j))
		if m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			break
		}
		j += 8
	}
	for j < len(data) && strPlain[data[j]] {
		j++
	}
	if j < len(data) && data[j] == '"' {
		return j + 1, true, true
	}
	end, e := checkString(data, i)
	return end, false, e == nil
}

// scanValue validates the value at data[i] inside depth containers and returns the offset
// past it, and whether it has white space to compact.
func scanValue(data []byte, i, depth int) (end int, spaced, ok bool) {
	if i >= len(data) {
		return i, false, false
	}
	var e *syntaxErr
	switch c := data[i]; c {
	case '"':
		end, _, ok = scanString(data, i)
		return end, false, ok
	case '{', '[':
		if depth >= maxDepth {
			return i, false, false
		}
		closing := c + 2 // '}' or ']'
		i, spaced = wsAt(data, i+1)
		if i < len(data) && data[i] == closing {
			return i + 1, spaced, true
		}
		for {
			var sp bool
			if c == '{' {
				if i >= len(data) || data[i] != '"' {
					return i, false, false
				}
				if i, _, ok = scanString(data, i); !ok {
					return i, false, false
				}
				j, sp1 := wsAt(data, i)
				if j >= len(data) || data[j] != ':' {
					return j, false, false
				}
				i, sp = wsAt(data, j+1)
				spaced = spaced || sp1 || sp
			}
			if i, sp, ok = scanValue(data, i, depth+1); !ok {
				return i, false, false
			}
			spaced = spaced || sp
			if i, sp = wsAt(data, i); i >= len(data) {
				return i, false, false
			}
			spaced = spaced || sp
			switch data[i] {
			case ',':
				i, sp = wsAt(data, i+1)
				spaced = spaced || sp
			case closing:
				return i + 1, spaced, true
			default:
				return i, false, false
			}
		}
	case 't':
		end, e = checkLiteral(data, i, "true")
	case 'f':
		end, e = checkLiteral(data, i, "false")
	case 'n':
		end, e = checkLiteral(data, i, "null")
	default:
		if c != '-' && (c < '0' || c > '9') {
			return i, false, false
		}
		end, e = checkNumber(data, i)
	}
	return end, false, e == nil
}
