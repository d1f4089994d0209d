package profile

import "strconv"

// refCheckJSON is the recursive validator checkJSON replaced: the reference its errors must
// match, byte offset and text.
func refCheckJSON(data []byte) *Error {
	i := skipWS(data, 0)
	i, e := refCheckValue(data, i, 0)
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

func refCheckValue(data []byte, i, depth int) (int, *syntaxErr) {
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
		return refCheckMembers(data, i, depth+1)
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

// refCheckMembers checks the members of the object or array that opens at i.
func refCheckMembers(data []byte, i, depth int) (int, *syntaxErr) {
	obj := data[i] == '{'
	end := byte(']')
	if obj {
		end = '}'
	}
	i = skipWS(data, i+1)
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
			if i = skipWS(data, i); i >= len(data) || data[i] != ':' {
				return i, &syntaxErr{i, "unexpected " + charAt(data, i) + ", expecting ':'"}
			}
			i = skipWS(data, i+1)
		}
		if i, e = refCheckValue(data, i, depth); e != nil {
			return i, e
		}
		i = skipWS(data, i)
		if i < len(data) && data[i] == ',' {
			i = skipWS(data, i+1)
			continue
		}
		if i < len(data) && data[i] == end {
			return i + 1, nil
		}
		return i, &syntaxErr{i, "unexpected " + charAt(data, i) + ", expecting ',' or '" + string(end) + "'"}
	}
}
