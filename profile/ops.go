package profile

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file turns operations into elements of $user_operations, exactly as the SDK builds them
// for the same call, validating on the way.

type opKind uint8

const (
	opAddChannel opKind = iota + 1
	opRemoveChannel
	opUnset
	opLanguage
	opTimezone
	opSet
	opSetOnce
	opIncrement
	opAppend
	opRemove
)

type opSpec struct {
	name string
	kind opKind
	ch   channel
}

// v1OpList is every v1 operation: its name (the SDK method) and what it does.
var v1OpList = []opSpec{
	{"add_email", opAddChannel, chEmail}, {"remove_email", opRemoveChannel, chEmail},
	{"add_sms", opAddChannel, chSMS}, {"remove_sms", opRemoveChannel, chSMS},
	{"add_whatsapp", opAddChannel, chWhatsApp}, {"remove_whatsapp", opRemoveChannel, chWhatsApp},
	{"add_androidpush", opAddChannel, chAndroidPush}, {"remove_androidpush", opRemoveChannel, chAndroidPush},
	{"add_iospush", opAddChannel, chIOSPush}, {"remove_iospush", opRemoveChannel, chIOSPush},
	{"add_webpush", opAddChannel, chWebPush}, {"remove_webpush", opRemoveChannel, chWebPush},
	{"add_slack", opAddChannel, chSlack}, {"remove_slack", opRemoveChannel, chSlack},
	{"add_ms_teams", opAddChannel, chMSTeams}, {"remove_ms_teams", opRemoveChannel, chMSTeams},
	{name: "unset", kind: opUnset},
	{name: "set_preferred_language", kind: opLanguage},
	{name: "set_timezone", kind: opTimezone},
	{name: "set", kind: opSet},
	{name: "set_once", kind: opSetOnce},
	{name: "increment", kind: opIncrement},
	{name: "append", kind: opAppend},
	{name: "remove", kind: opRemove},
}

// v1OpSpec returns the v1 operation called name, or nil. (A switch: the compiler's search by
// length and bytes costs a fraction of hashing the name for a map.)
func v1OpSpec(name []byte) *opSpec {
	switch string(name) {
	case "add_email":
		return &v1OpList[0]
	case "remove_email":
		return &v1OpList[1]
	case "add_sms":
		return &v1OpList[2]
	case "remove_sms":
		return &v1OpList[3]
	case "add_whatsapp":
		return &v1OpList[4]
	case "remove_whatsapp":
		return &v1OpList[5]
	case "add_androidpush":
		return &v1OpList[6]
	case "remove_androidpush":
		return &v1OpList[7]
	case "add_iospush":
		return &v1OpList[8]
	case "remove_iospush":
		return &v1OpList[9]
	case "add_webpush":
		return &v1OpList[10]
	case "remove_webpush":
		return &v1OpList[11]
	case "add_slack":
		return &v1OpList[12]
	case "remove_slack":
		return &v1OpList[13]
	case "add_ms_teams":
		return &v1OpList[14]
	case "remove_ms_teams":
		return &v1OpList[15]
	case "unset":
		return &v1OpList[16]
	case "set_preferred_language":
		return &v1OpList[17]
	case "set_timezone":
		return &v1OpList[18]
	case "set":
		return &v1OpList[19]
	case "set_once":
		return &v1OpList[20]
	case "increment":
		return &v1OpList[21]
	case "append":
		return &v1OpList[22]
	case "remove":
		return &v1OpList[23]
	}
	return nil
}

// OperationNames returns the names of the v1 operations, sorted.
func OperationNames() []string {
	names := make([]string, 0, len(v1OpList))
	for _, op := range v1OpList {
		names = append(names, op.name)
	}
	slices.Sort(names)
	return names
}

// identity-event op keys, in the order the SDK writes them.
func eventOpKey(name []byte) (opKind, bool) {
	switch string(name) {
	case "$set":
		return opSet, true
	case "$set_once":
		return opSetOnce, true
	case "$add":
		return opIncrement, true
	case "$append":
		return opAppend, true
	case "$remove":
		return opRemove, true
	case "$unset":
		return opUnset, true
	}
	return 0, false
}

// opHeads[k] is `{"<opKey(k)>":`, channelHeads[c] `"<channelKeys[c]>":`: one append each.
var opHeads, channelHeads = func() (ops [opRemove + 1]string, chs [len(channelKeys)]string) {
	for k := opAddChannel; k <= opRemove; k++ {
		ops[k] = `{"` + opKey(k) + `":`
	}
	for c, key := range channelKeys {
		chs[c] = `"` + key + `":`
	}
	return ops, chs
}()

func opKey(k opKind) string {
	switch k {
	case opSet, opLanguage, opTimezone:
		return "$set"
	case opSetOnce:
		return "$set_once"
	case opIncrement:
		return "$add"
	case opAppend, opAddChannel:
		return "$append"
	case opRemove, opRemoveChannel:
		return "$remove"
	default:
		return "$unset"
	}
}

// member is one key and value of an object being converted.
type member struct {
	key    []byte // unescaped and trimmed
	vs, ve int
}

// v1Op appends the $user_operations element for the v1 operation at data[vs:ve].
func (d *decoder) v1Op(idx, vs, ve int) *Error {
	l := loc{list: "operations", idx: idx}
	v := d.data[vs:ve]
	if v[0] != '{' {
		return l.err("must be an object with one key naming the operation, got " + kindName(v))
	}
	it := newObjIter(d.data, &d.ix, vs)
	rawName, ovs, ove, ok := it.next()
	if !ok {
		return l.err("must be an object with one key naming the operation, got an empty object")
	}
	if k2, _, _, more := it.next(); more {
		n := 2
		for _, _, _, more := it.next(); more; _, _, _, more = it.next() {
			n++
		}
		return l.err("must have exactly one key naming the operation, got " + strconv.Itoa(n) +
			" (" + quote(unquote(rawName)) + ", " + quote(unquote(k2)) + ")")
	}
	name := unquote(rawName)
	spec := v1OpSpec(name)
	if spec == nil {
		return l.err("unknown operation " + quote(name))
	}
	l.name = spec.name
	val := d.data[ovs:ove]

	d.buf = append(d.buf, opHeads[spec.kind]...)
	var err *Error
	switch spec.kind {
	case opAddChannel, opRemoveChannel:
		d.buf = append(d.buf, '{')
		err = d.v1Channel(l, spec.ch, ovs, ove)
		d.buf = append(d.buf, '}')
	case opUnset:
		err = d.unsetList(l, ovs, ove, true)
	case opLanguage:
		if val[0] != '"' {
			return l.err("must be a language code string, got " + kindName(val))
		}
		s := unquote(val)
		if !validLanguage(s) {
			return l.err(quote(s) + " is not a supported language code (one of the 183 ISO 639-1 codes, e.g. \"en\")")
		}
		d.buf = append(d.buf, `{"$preferred_language":`...)
		d.buf = appendString(d.buf, s)
		d.buf = append(d.buf, '}')
	case opTimezone:
		if err := checkTimezone(l, val); err != nil {
			return err
		}
		d.buf = append(d.buf, `{"$timezone":`...)
		d.buf = appendString(d.buf, unquote(val))
		d.buf = append(d.buf, '}')
	default:
		err = d.kvObject(l, spec.kind, ovs, ove)
	}
	d.buf = append(d.buf, '}')
	return err
}

func checkTimezone(l loc, val []byte) *Error {
	if val[0] != '"' {
		return l.err("must be a time zone name string, got " + kindName(val))
	}
	if len(trim(unquote(val))) == 0 {
		return l.err("must be a non-empty time zone name, e.g. \"America/New_York\"")
	}
	return nil
}

// v1Channel appends the members of an add_*/remove_* op: the channel key and value, and the
// provider for push channels. The value is a string, or for android and ios push also
// {"token": ..., "provider": ...}; an object for webpush, slack and ms_teams.
func (d *decoder) v1Channel(l loc, ch channel, vs, ve int) *Error {
	val := d.data[vs:ve]
	if (ch == chAndroidPush || ch == chIOSPush) && val[0] == '{' {
		tvs, pvs, pve := -1, -1, -1
		tve := -1
		it := newObjIter(d.data, &d.ix, vs)
		for k, mvs, mve, ok := it.next(); ok; k, mvs, mve, ok = it.next() {
			switch string(unquote(k)) {
			case "token":
				if tvs >= 0 {
					return l.err(`duplicate key "token"`)
				}
				tvs, tve = mvs, mve
			case "provider":
				if pvs >= 0 {
					return l.err(`duplicate key "provider"`)
				}
				pvs, pve = mvs, mve
			default:
				return l.err("unknown key " + quote(unquote(k)) + `: the object form is {"token": ..., "provider": ...}`)
			}
		}
		if tvs < 0 {
			return l.err(`missing "token": the object form is {"token": ..., "provider": ...}`)
		}
		return d.channelValue(l.withKey([]byte("token")), l.withKey([]byte("provider")), ch, tvs, tve, pvs, pve)
	}
	return d.channelValue(l, l, ch, vs, ve, -1, -1)
}

// channelValue validates the value of channel ch at data[vs:ve] (and, for push channels, the
// provider at data[pvs:pve] when pvs >= 0) and appends `"$key":value[,"$id_provider":p]`.
// Errors of the value are reported at l, errors of the provider at pl.
func (d *decoder) channelValue(l, pl loc, ch channel, vs, ve, pvs, pve int) *Error {
	val := d.data[vs:ve]
	d.buf = append(d.buf, channelHeads[ch]...)
	switch ch {
	case chEmail, chSMS, chWhatsApp, chAndroidPush, chIOSPush:
		if val[0] != '"' {
			return l.err("must be a non-empty string, got " + kindName(val))
		}
		s := trim(unquote(val))
		if len(s) == 0 {
			return l.err("must be a non-empty string")
		}
		var msg string
		switch ch {
		case chEmail:
			msg = checkEmail(s)
		case chSMS, chWhatsApp:
			msg = checkMobile(s)
		}
		if msg != "" {
			return l.err(msg)
		}
		d.buf = appendString(d.buf, s)
	default: // webpush, slack, ms_teams: a non-empty object
		if val[0] != '{' {
			return l.err("must be a non-empty object, got " + kindName(val))
		}
		if it := newObjIter(d.data, &d.ix, vs); !hasNext(&it) {
			return l.err("must be a non-empty object, got {}")
		}
		d.buf = d.appendCompact(val)
	}
	if !ch.push() {
		return nil
	}
	providers := pushProviders(ch)
	p := []byte(nil)
	if pvs >= 0 {
		switch pv := d.data[pvs:pve]; pv[0] {
		case 'n':
		case '"':
			p = unquote(pv)
		default:
			return pl.err("provider must be a string (" + strings.Join(providers, ", ") + "), got " + kindName(pv))
		}
	}
	d.buf = append(d.buf, `,"$id_provider":`...)
	if len(p) == 0 {
		d.buf = appendString(d.buf, providers[0])
		return nil
	}
	for _, ok := range providers {
		if lowerIs(p, ok) {
			d.buf = appendString(d.buf, ok)
			return nil
		}
	}
	return pl.err(quote(p) + " is not a supported " + channelName(ch) + " provider (" + strings.Join(providers, ", ") + ")")
}

// lowerIs reports whether strings.ToLower(string(p)) == name, without a copy when p is ASCII.
// It stops at the first ASCII byte that differs: ToLower maps the ASCII bytes before it, and
// it, to themselves or their lower case.
func lowerIs(p []byte, name string) bool {
	for i, c := range p {
		if c >= utf8.RuneSelf {
			return strings.ToLower(string(p)) == name
		}
		if i >= len(name) {
			return false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return len(p) == len(name)
}

func hasNext(it *objIter) bool {
	_, _, _, ok := it.next()
	return ok
}

// unsetList appends the $unset list for a key or (when oneString) a list of keys. Keys are
// trimmed and must not be empty; channel keys such as "$email" are allowed, as in the SDK.
func (d *decoder) unsetList(l loc, vs, ve int, oneString bool) *Error {
	val := d.data[vs:ve]
	if val[0] == '"' && oneString {
		k := trim(unquote(val))
		if len(k) == 0 {
			return l.err("key must not be empty")
		}
		d.buf = append(d.buf, '[')
		d.buf = appendString(d.buf, k)
		d.buf = append(d.buf, ']')
		return nil
	}
	if val[0] != '[' {
		if oneString {
			return l.err("must be a key or a list of keys, got " + kindName(val))
		}
		return l.err("must be a list of keys, got " + kindName(val))
	}
	d.buf = append(d.buf, '[')
	it := newArrIter(d.data, &d.ix, vs)
	n := 0
	for evs, eve, ok := it.next(); ok; evs, eve, ok = it.next() {
		e := d.data[evs:eve]
		if e[0] != '"' {
			return l.err("element " + strconv.Itoa(n) + " must be a key string, got " + kindName(e))
		}
		k := trim(unquote(e))
		if len(k) == 0 {
			return l.err("element " + strconv.Itoa(n) + ": key must not be empty")
		}
		if n > 0 {
			d.buf = append(d.buf, ',')
		}
		d.buf = appendString(d.buf, k)
		n++
	}
	if n == 0 {
		return l.err("must name at least one key, got []")
	}
	d.buf = append(d.buf, ']')
	return nil
}
