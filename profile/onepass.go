package profile

import (
	"bytes"
	"time"
)

// This file is the decoder's one-pass path. It reads a v1 message once, validating each byte
// as it writes the event, with no index: the usual message is decoded in about half the time
// of checkJSONIndex and the walk together. It gives up on anything unusual: an identity event,
// a field it does not handle, a fault. DecodeTo then decodes the message again with the
// index, so a refusal and its text always come from one place, and a message the one-pass path
// accepts is decoded exactly as the indexed path decodes it (FuzzDecode compares the two).
//
// Operations it does not write itself (set_preferred_language, set_timezone, a "$" key but
// email, sms and whatsapp, an escaped key, ...) are indexed alone and written by v1Op, which
// the indexed path uses too.

// onePass decodes d.data, a v1 message, into d.buf (scratch: d.ops), or reports ok = false.
func (d *decoder) onePass(origin Origin, dec *Decoder) (ev Event, ok bool) {
	data := d.data
	i, _ := wsAt(data, 0)
	if i >= len(data) || data[i] != '{' {
		return Event{}, false
	}
	var f [fTime + 1]span // distinct_id, operations, event_id, time
	for id := range f {
		f[id].vs = -1
	}
	i, _ = wsAt(data, i+1)
	for {
		if i >= len(data) || data[i] != '"' {
			return Event{}, false
		}
		ke, plain, ok := scanString(data, i)
		if !ok || !plain {
			return Event{}, false
		}
		id := topField(data[i+1 : ke-1])
		if id < 0 || id > fTime || f[id].vs >= 0 {
			return Event{}, false
		}
		if i, ok = colon(data, ke); !ok {
			return Event{}, false
		}
		vs := i
		if id == fOperations {
			i, ok = d.onePassOps(data, i)
		} else {
			i, _, ok = scanValue(data, i, 1)
		}
		if !ok {
			return Event{}, false
		}
		f[id] = span{vs, i}
		if i, ok = nextAt(data, i, '}'); !ok {
			return Event{}, false
		}
		if data[i] == '}' {
			break
		}
		i, _ = wsAt(data, i+1)
	}
	if i, _ = wsAt(data, i+1); i < len(data) || f[fDistinctID].vs < 0 || f[fOperations].vs < 0 {
		return Event{}, false
	}
	v := data[f[fDistinctID].vs:f[fDistinctID].ve]
	if v[0] != '"' {
		return Event{}, false
	}
	distinctID := trim(unquote(v))
	if len(distinctID) == 0 {
		return Event{}, false
	}
	insertID, ms := "", int64(-1)
	if s := f[fEventID]; s.vs >= 0 {
		id, e := eventID(data[s.vs:s.ve], "event_id")
		if e != nil {
			return Event{}, false
		}
		insertID = id
	}
	if s := f[fTime]; s.vs >= 0 {
		t, e := parseTime(data[s.vs:s.ve], "time")
		if e != nil {
			return Event{}, false
		}
		ms = t
	}
	insertID, ms, e := fromRecord(insertID, ms, origin)
	if e != nil {
		return Event{}, false
	}
	b := appendHead(d.buf, insertID, ms, distinctID, dec)
	b = append(b, d.ops...)
	b = append(b, dec.tail...)
	d.buf = b
	if len(b) > MaxEventBytes { // the indexed path says by how much
		return Event{}, false
	}
	return Event{DistinctID: string(distinctID), InsertID: insertID, Time: time.UnixMilli(ms).UTC(), Body: b}, true
}

// onePassOps writes the elements of the operations array at data[i] to d.ops, and returns
// the offset past the array.
func (d *decoder) onePassOps(data []byte, i int) (int, bool) {
	d.ops = d.ops[:0]
	if data[i] != '[' {
		return i, false
	}
	i, _ = wsAt(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, true
	}
	for n := 0; ; n++ {
		if n > 0 {
			d.ops = append(d.ops, ',')
		}
		var ok bool
		if i, ok = d.onePassOp(data, i, n); !ok || len(d.ops) > MaxEventBytes {
			return i, false
		}
		if i, ok = nextAt(data, i, ']'); !ok {
			return i, false
		}
		if data[i] == ']' {
			return i + 1, true
		}
		i, _ = wsAt(data, i+1)
	}
}

// onePassOp writes operation n, at data[vs], to d.ops and returns the offset past it.
func (d *decoder) onePassOp(data []byte, vs, n int) (int, bool) {
	if vs >= len(data) || data[vs] != '{' {
		return vs, false
	}
	i, _ := wsAt(data, vs+1)
	if i >= len(data) || data[i] != '"' {
		return i, false
	}
	ke, plain, ok := scanString(data, i)
	if !ok {
		return i, false
	}
	if !plain {
		return d.indexedOp(data, vs, n)
	}
	spec := v1OpSpec(data[i+1 : ke-1])
	if spec == nil {
		return i, false
	}
	if i, ok = colon(data, ke); !ok {
		return i, false
	}
	mark := len(d.ops)
	d.ops = append(d.ops, opHeads[spec.kind]...)
	var end int
	switch spec.kind {
	case opSet, opSetOnce, opIncrement, opAppend, opRemove:
		end, ok = d.onePassKV(data, i, spec.kind)
	case opAddChannel, opRemoveChannel:
		end, ok = d.onePassChannel(data, i, spec.ch)
	case opUnset:
		end, ok = d.onePassUnset(data, i)
	}
	if ok {
		if end, _ = wsAt(data, end); end < len(data) && data[end] == '}' {
			d.ops = append(d.ops, '}')
			return end + 1, true
		}
	}
	d.ops = d.ops[:mark]
	return d.indexedOp(data, vs, n)
}

// indexedOp writes operation n, at data[vs], with v1Op: it indexes the operation alone.
func (d *decoder) indexedOp(data []byte, vs, n int) (int, bool) {
	d.ix.reset()
	ve, e := d.ix.checkValue(data, vs, 2) // in the message's object and its operations
	if e != nil {
		return ve, false
	}
	buf := d.buf
	d.buf = d.ops
	err := d.v1Op(n, vs, ve)
	d.ops, d.buf = d.buf, buf
	return ve, err == nil
}

// onePassKV writes the object of a set, set_once, increment, append or remove at data[i]
// whose keys are plain and do not start with "$" or "ss_", but for the email, sms and whatsapp
// channels of append and remove (push channels, providers and the SDK's keys are left to
// v1Op), and returns the offset past it.
func (d *decoder) onePassKV(data []byte, i int, kind opKind) (int, bool) {
	if data[i] != '{' {
		return i, false
	}
	d.ops = append(d.ops, '{')
	var keys [16]span // for duplicates; more keys are left to v1Op
	i, _ = wsAt(data, i+1)
	for n := 0; ; n++ {
		if i >= len(data) || data[i] != '"' || n == len(keys) {
			return i, false
		}
		ke, plain, ok := scanString(data, i)
		if !ok || !plain || !plainEdges(data[i+1:ke-1]) {
			return i, false
		}
		key := data[i+1 : ke-1]
		ch := chNone
		if key[0] == '$' {
			// append and remove take email, sms and whatsapp as add_* and remove_* do.
			if ch = channelOf(key); ch < chEmail || ch > chWhatsApp || kind != opAppend && kind != opRemove {
				return i, false
			}
		} else if reservedPrefix(key) {
			return i, false
		}
		for _, k := range keys[:n] {
			if bytes.Equal(data[k.vs:k.ve], key) {
				return i, false
			}
		}
		keys[n] = span{i + 1, ke - 1}
		if n > 0 {
			d.ops = append(d.ops, ',')
		}
		d.ops = append(d.ops, data[i:ke]...)
		d.ops = append(d.ops, ':')
		if i, ok = colon(data, ke); !ok {
			return i, false
		}
		var ve int
		if ch != chNone {
			if data[i] != '"' {
				return i, false
			}
			if ve, ok = d.onePassChannelString(data, i, ch); !ok {
				return ve, false
			}
		} else {
			var spaced bool
			if ve, spaced, ok = scanValue(data, i, 4); !ok {
				return ve, false
			}
			switch v := data[i]; {
			case kind == opIncrement && v != '-' && (v < '0' || v > '9'):
				return i, false
			case (kind == opAppend || kind == opRemove) && v == 'n':
				return i, false
			}
			if spaced {
				d.ops = appendCompact(d.ops, data[i:ve])
			} else {
				d.ops = append(d.ops, data[i:ve]...)
			}
		}
		var done bool
		if i, done, ok = d.after(data, ve, '}'); !ok || done {
			return i, ok
		}
	}
}

// onePassChannel writes the value of an add_* or remove_* at data[i]: a plain string of
// email, sms, whatsapp, androidpush or iospush, a push channel's {"token", "provider"}, or the
// object of webpush, slack or ms_teams.
func (d *decoder) onePassChannel(data []byte, i int, ch channel) (int, bool) {
	d.ops = append(d.ops, '{')
	d.ops = append(d.ops, channelHeads[ch]...)
	var end int
	switch {
	case data[i] == '"' && ch >= chEmail && ch <= chIOSPush:
		var ok bool
		if end, ok = d.onePassChannelString(data, i, ch); !ok {
			return end, false
		}
	case data[i] == '{' && (ch == chAndroidPush || ch == chIOSPush):
		return d.onePassPushObject(data, i, ch)
	case data[i] == '{' && ch >= chWebPush: // webpush, slack, ms_teams: a non-empty object, copied
		var spaced, ok bool
		end, spaced, ok = scanValue(data, i, 3)
		if j, _ := wsAt(data, i+1); !ok || data[j] == '}' {
			return end, false
		}
		if spaced {
			d.ops = appendCompact(d.ops, data[i:end])
		} else {
			d.ops = append(d.ops, data[i:end]...)
		}
	default:
		return i, false
	}
	if ch.push() {
		d.ops = append(d.ops, `,"$id_provider":"`...)
		d.ops = append(d.ops, pushProviders(ch)[0]...)
		d.ops = append(d.ops, '"')
	}
	d.ops = append(d.ops, '}')
	return end, true
}

// onePassChannelString writes the channel value at data[i], a string without escapes or
// spaces at its ends, when it is valid for ch.
func (d *decoder) onePassChannelString(data []byte, i int, ch channel) (int, bool) {
	end, plain, ok := scanString(data, i)
	if !ok || !plain || !plainEdges(data[i+1:end-1]) {
		return end, false
	}
	switch s := data[i+1 : end-1]; ch {
	case chEmail:
		ok = plainEmail(s)
	case chSMS, chWhatsApp:
		ok = checkMobile(s) == ""
	}
	d.ops = append(d.ops, data[i:end]...)
	return end, ok
}

// onePassPushObject writes {"token": ..., "provider": ...} at data[i] of a push channel.
func (d *decoder) onePassPushObject(data []byte, i int, ch channel) (int, bool) {
	var token, provider span
	token.vs, provider.vs = -1, -1
	i, _ = wsAt(data, i+1)
	for {
		if i >= len(data) || data[i] != '"' {
			return i, false
		}
		ke, plain, ok := scanString(data, i)
		if !ok || !plain {
			return i, false
		}
		var s *span
		switch string(data[i+1 : ke-1]) {
		case "token":
			s = &token
		case "provider":
			s = &provider
		default:
			return i, false
		}
		if s.vs >= 0 {
			return i, false
		}
		if i, ok = colon(data, ke); !ok || data[i] != '"' {
			return i, false
		}
		end, plain, ok := scanString(data, i)
		if !ok || !plain {
			return i, false
		}
		*s = span{i, end}
		if i, ok = nextAt(data, end, '}'); !ok {
			return i, false
		}
		if data[i] == '}' {
			break
		}
		i, _ = wsAt(data, i+1)
	}
	if token.vs < 0 {
		return i, false
	}
	if _, ok := d.onePassChannelString(data, token.vs, ch); !ok {
		return i, false
	}
	providers := pushProviders(ch)
	p := providers[0]
	if provider.vs >= 0 && provider.ve-provider.vs > 2 {
		p = ""
		for _, name := range providers {
			if lowerIs(data[provider.vs+1:provider.ve-1], name) {
				p = name
			}
		}
		if p == "" {
			return i, false
		}
	}
	d.ops = append(d.ops, `,"$id_provider":"`...)
	d.ops = append(d.ops, p...)
	d.ops = append(d.ops, `"}`...)
	return i + 1, true
}

// onePassUnset writes unset's key or list of keys at data[i], plain strings without spaces
// at their ends.
func (d *decoder) onePassUnset(data []byte, i int) (int, bool) {
	d.ops = append(d.ops, '[')
	if data[i] == '"' {
		end, plain, ok := scanString(data, i)
		if !ok || !plain || !plainEdges(data[i+1:end-1]) {
			return end, false
		}
		d.ops = append(d.ops, data[i:end]...)
		d.ops = append(d.ops, ']')
		return end, true
	}
	if data[i] != '[' {
		return i, false
	}
	i, _ = wsAt(data, i+1)
	for n := 0; ; n++ {
		if i >= len(data) || data[i] != '"' {
			return i, false
		}
		end, plain, ok := scanString(data, i)
		if !ok || !plain || !plainEdges(data[i+1:end-1]) {
			return end, false
		}
		if n > 0 {
			d.ops = append(d.ops, ',')
		}
		d.ops = append(d.ops, data[i:end]...)
		var done bool
		if i, done, ok = d.after(data, end, ']'); !ok || done {
			return i, ok
		}
	}
}

// after reads what follows a member or element that ends at i in a container that closing
// closes: at its end, it appends closing to d.ops and reports done with the offset past it;
// else it returns the offset of the next member or element.
func (d *decoder) after(data []byte, i int, closing byte) (next int, done, ok bool) {
	if i, ok = nextAt(data, i, closing); !ok {
		return i, false, false
	}
	if data[i] == closing {
		d.ops = append(d.ops, closing)
		return i + 1, true, true
	}
	i, _ = wsAt(data, i+1)
	return i, false, true
}

// plainEmail is checkEmail(s) == "" for the contents s of a plain string, whose only
// space can be ' ' and whose characters are its bytes.
func plainEmail(s []byte) bool {
	if len(s) < emailMinLen || len(s) > emailMaxLen || bytes.IndexByte(s, ' ') >= 0 {
		return false
	}
	at := bytes.IndexByte(s[1:], '@') + 1 // the first '@' after the first character
	dot := bytes.LastIndexByte(s, '.')
	return at > 0 && dot >= at+2 && dot < len(s)-1
}

// plainEdges reports whether s, the contents of a plain string, is not empty and has no
// space at either end: trim would return it whole. (A plain string's only space is ' '.)
func plainEdges(s []byte) bool { return len(s) > 0 && s[0] != ' ' && s[len(s)-1] != ' ' }

// wsAt returns the offset of the first byte at or after i that is not white space, and
// whether there was white space to skip.
func wsAt(data []byte, i int) (int, bool) {
	if i < len(data) && data[i] > ' ' { // the usual case, inlined: no white space
		return i, false
	}
	j := skipWS(data, i)
	return j, j != i
}

// colon returns the offset of the value after a key that ends at i: past white space, ':'
// and white space.
func colon(data []byte, i int) (int, bool) {
	if i, _ = wsAt(data, i); i >= len(data) || data[i] != ':' {
		return i, false
	}
	i, _ = wsAt(data, i+1)
	return i, i < len(data)
}

// nextAt returns the offset of the ',' or closing bracket after a member or element that ends
// at i.
func nextAt(data []byte, i int, closing byte) (int, bool) {
	i, _ = wsAt(data, i)
	return i, i < len(data) && (data[i] == ',' || data[i] == closing)
}
