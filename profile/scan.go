package profile

import (
	"bytes"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// This file walks JSON that has already been checked by checkJSON: the helpers below trust
// their input to be one valid JSON text and never fail. They work on offsets into the input so
// that values can be copied to the event as given, keys in the order given.

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(data []byte, i int) int {
	for i < len(data) && isWS(data[i]) {
		i++
	}
	return i
}

// skipString returns the offset just past the string whose opening quote is at i.
func skipString(data []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return len(data)
		}
		i += j
		// The quote ends the string unless an odd number of backslashes precede it (the
		// opening quote stops the count).
		k := i - 1
		for data[k] == '\\' {
			k--
		}
		i++
		if (i-k)%2 == 0 {
			return i
		}
	}
}

// skipValue returns the offset just past the value that starts at i (no leading space). A
// string, object or array is not rescanned: its end is looked up in ix, which checkJSONIndex
// filled for data.
func skipValue(data []byte, ix *valueIndex, i int) int {
	switch data[i] {
	case '"', '{', '[':
		return ix.endOf(data, i)
	default: // number, true, false, null
		for i < len(data) {
			switch data[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// kindName names the JSON type of the value starting at data[0], for error messages.
func kindName(v []byte) string {
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// objIter iterates over the members of the object at data[start] ('{').
type objIter struct {
	data []byte
	ix   *valueIndex
	pos  int
}

func newObjIter(data []byte, ix *valueIndex, start int) objIter {
	return objIter{data: data, ix: ix, pos: start + 1}
}

// next returns the raw key (with quotes) and the value's span, or ok=false at the end.
func (it *objIter) next() (key []byte, vs, ve int, ok bool) {
	d, i := it.data, it.pos
	if it.ix.spaced {
		return it.nextSpaced()
	}
	// Compact: no white space between the tokens.
	if d[i] == ',' {
		i++
	}
	if d[i] == '}' {
		it.pos = i
		return nil, 0, 0, false
	}
	ke := it.ix.endOf(d, i)
	vs = ke + 1 // past ':'
	ve = skipValue(d, it.ix, vs)
	it.pos = ve
	return d[i:ke], vs, ve, true
}

func (it *objIter) nextSpaced() (key []byte, vs, ve int, ok bool) {
	d := it.data
	i := skipWS(d, it.pos)
	if d[i] == ',' {
		i = skipWS(d, i+1)
	}
	if d[i] == '}' {
		it.pos = i
		return nil, 0, 0, false
	}
	ke := it.ix.endOf(d, i)
	key = d[i:ke]
	i = skipWS(d, ke)
	i = skipWS(d, i+1) // past ':'
	vs = i
	ve = skipValue(d, it.ix, i)
	it.pos = ve
	return key, vs, ve, true
}

// arrIter iterates over the elements of the array at data[start] ('[').
type arrIter struct {
	data []byte
	ix   *valueIndex
	pos  int
}

func newArrIter(data []byte, ix *valueIndex, start int) arrIter {
	return arrIter{data: data, ix: ix, pos: start + 1}
}

func (it *arrIter) next() (vs, ve int, ok bool) {
	d, i := it.data, it.pos
	if it.ix.spaced {
		i = skipWS(d, i)
		if d[i] == ',' {
			i = skipWS(d, i+1)
		}
	} else if d[i] == ',' {
		i++
	}
	if d[i] == ']' {
		it.pos = i
		return 0, 0, false
	}
	ve = skipValue(d, it.ix, i)
	it.pos = ve
	return i, ve, true
}

// unquote returns the contents of the valid JSON string raw (quotes included). It returns a
// sub-slice of raw when there is no escape, else a new slice.
func unquote(raw []byte) []byte {
	s := raw[1 : len(raw)-1]
	esc := bytes.IndexByte(s, '\\')
	if esc < 0 {
		return s
	}
	out := make([]byte, esc, len(s))
	copy(out, s[:esc])
	for i := esc; i < len(s); {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(s[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, hex4(s[i+2:i+6])); r2 != utf8.RuneError {
						out = utf8.AppendRune(out, r2)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, s[i+1])
		}
		i += 2
	}
	return out
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

const hexDigits = "0123456789abcdef"

// appendString appends s (valid UTF-8) as a JSON string the way encoding/json does with
// SetEscapeHTML(false): only '"', '\\', control characters and U+2028/U+2029 are escaped.
func appendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			m := notPlain8(load64(s, i))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		}
		c := s[i]
		if !strEscape[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are E2 80 A8 / E2 80 A9.
		if i+2 < len(s) && s[i+1] == 0x80 && s[i+2]&^1 == 0xA8 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xf])
			i += 3
			start = i
			continue
		}
		i++
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// load64 reads the 8 bytes of s at i as a little-endian number (one load: the compiler
// combines the byte reads).
func load64[S ~string | ~[]byte](s S, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// strEscape marks the bytes appendString looks at: those it escapes, and 0xE2, the first byte
// of U+2028 and U+2029.
var strEscape = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'], t[0xE2] = true, true, true
	return t
}()

// appendCompact appends v, a value of d.data, to d.buf without insignificant white space: as
// it is when checkJSONIndex saw none.
func (d *decoder) appendCompact(v []byte) []byte {
	if !d.ix.spaced {
		return append(d.buf, v...)
	}
	return appendCompact(d.buf, v)
}

// appendCompact appends the valid JSON value v without insignificant white space; strings are
// copied byte for byte.
func appendCompact(dst, v []byte) []byte {
	start := 0
	for i := 0; i < len(v); {
		c := v[i]
		if c == '"' {
			i = skipString(v, i)
			continue
		}
		if isWS(c) {
			dst = append(dst, v[start:i]...)
			for i < len(v) && isWS(v[i]) {
				i++
			}
			start = i
			continue
		}
		i++
	}
	return append(dst, v[start:]...)
}
