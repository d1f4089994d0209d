package hubsim

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// This file reads a request body in one pass: it checks the JSON, splits the events and parses
// each into an event, without encoding/json. It takes the common, unambiguous shape only; an
// event it is unsure of (invalid, or valid in an unusual way: a duplicate or case-folded key,
// an escaped key, a null where the reference decoder tolerates one, ...) is marked for
// parseEventRef, the encoding/json reference in event.go, which gives the verdict and the error
// message. So the fast path never accepts what the reference refuses, nor says why differently.

// rawEvent is one element of a body: its bytes and, when the fast path took it, its event.
type rawEvent struct {
	raw  []byte
	ev   event
	fast bool
}

// bodyParser holds one body and the scratch space its events' parts are cut from.
type bodyParser struct {
	scanner
	key []byte // workspace key: env must equal it
	kvs []kv
	ops []op
	evs []rawEvent // at most MaxEvents+1: one more refuses the request
}

// parseBody checks body and parses its events. syntaxOK false means the body is not valid
// JSON (the caller double-checks with json.Valid).
func (p *bodyParser) parseBody(body []byte) (syntaxOK bool) {
	p.scanner = scanner{b: body}
	p.evs, p.kvs, p.ops = p.evs[:0], p.kvs[:0], p.ops[:0]
	p.ws()
	if p.peek() == '[' {
		if !p.open() {
			return false
		}
		p.ws()
		if p.peek() == ']' {
			p.i++
			p.depth--
		} else {
			for {
				if !p.element() {
					return false
				}
				end, ok := p.next(']')
				if !ok {
					return false
				}
				if end {
					break
				}
			}
		}
	} else if p.i >= len(p.b) || !p.element() {
		return false
	}
	p.ws()
	return p.i == len(p.b)
}

// element reads one event (or whatever value stands in its place) at i.
func (p *bodyParser) element() bool {
	if len(p.evs) > MaxEvents {
		return p.value() // the request is refused: only check the rest
	}
	start, depth, nkv, nop := p.i, p.depth, len(p.kvs), len(p.ops)
	if len(p.evs) < MaxEvents {
		ev, st := p.event()
		switch st {
		case parsed:
			p.evs = append(p.evs, rawEvent{raw: p.b[start:p.i], ev: ev, fast: true})
			return true
		case badSyntax:
			return false
		}
		// unsure: check it again plainly, for the reference parser to judge
		p.i, p.depth, p.kvs, p.ops = start, depth, p.kvs[:nkv], p.ops[:nop]
	}
	if !p.value() {
		return false
	}
	p.evs = append(p.evs, rawEvent{raw: p.b[start:p.i]})
	return true
}

// parseStatus is the outcome of a fast-path parse.
type parseStatus int

const (
	parsed    parseStatus = iota // the event is valid and parsed
	unsure                       // leave it to the reference parser
	badSyntax                    // the body is not valid JSON
)

// status of a scanner result: a syntax failure, or fine.
func syntax(ok bool) parseStatus {
	if ok {
		return parsed
	}
	return badSyntax
}

// Fields of an identity event that hubsim checks, as bits, so each is seen once.
const (
	fSchema = 1 << iota
	fInsertID
	fTime
	fEnv
	fDistinctID
	fOps
	fAll = fSchema | fInsertID | fTime | fEnv | fDistinctID | fOps
)

var eventFields = []string{"$schema", "$insert_id", "$time", "env", "distinct_id", "$user_operations"}

// event parses the identity event at i.
func (p *bodyParser) event() (event, parseStatus) {
	var ev event
	if p.peek() != '{' {
		return ev, unsure
	}
	if !p.open() {
		return ev, badSyntax
	}
	p.ws()
	if p.peek() == '}' {
		return ev, unsure // no fields at all
	}
	seen := 0
	for {
		if p.peek() != '"' {
			return ev, badSyntax
		}
		k, ok := p.string()
		if !ok || !p.colon() {
			return ev, badSyntax
		}
		if k.esc || k.wide {
			return ev, unsure // may decode, or case-fold, to a field name
		}
		key := p.b[k.start:k.end]
		bit := 0
		switch string(key) {
		case "$schema":
			bit = fSchema
		case "$insert_id":
			bit = fInsertID
		case "$time":
			bit = fTime
		case "env":
			bit = fEnv
		case "distinct_id":
			bit = fDistinctID
		case "$user_operations":
			bit = fOps
		default:
			for _, f := range eventFields {
				if len(f) == len(key) && bytes.EqualFold(key, []byte(f)) {
					return ev, unsure // encoding/json matches field names case-insensitively
				}
			}
		}
		if seen&bit != 0 {
			return ev, unsure // a repeated field: the last one wins there
		}
		seen |= bit
		var st parseStatus
		switch bit {
		case 0:
			st = syntax(p.value())
		case fSchema:
			var v []byte
			if v, st = p.stringValue(); st == parsed && string(v) != "2" {
				st = unsure
			}
		case fInsertID:
			if ev.insertID, st = p.stringValue(); st == parsed && len(ev.insertID) == 0 {
				st = unsure
			}
		case fTime:
			st = p.numberValue()
		case fEnv:
			var v []byte
			if v, st = p.stringValue(); st == parsed && !bytes.Equal(v, p.key) {
				st = unsure
			}
		case fDistinctID:
			if ev.distinctID, st = p.stringValue(); st == parsed && len(bytes.TrimSpace(ev.distinctID)) == 0 {
				st = unsure
			}
		case fOps:
			ev.ops, st = p.operations()
		}
		if st != parsed {
			return ev, st
		}
		end, ok := p.next('}')
		if !ok {
			return ev, badSyntax
		}
		if end {
			break
		}
	}
	if seen != fAll {
		return ev, unsure
	}
	return ev, parsed
}

// stringValue reads a string value and decodes it; anything else is unsure.
func (p *bodyParser) stringValue() ([]byte, parseStatus) {
	if p.peek() != '"' {
		return nil, p.other()
	}
	t, ok := p.string()
	if !ok {
		return nil, badSyntax
	}
	return p.text(t), parsed
}

// numberValue reads a number float64 can hold; anything else is unsure.
func (p *bodyParser) numberValue() parseStatus {
	c := p.peek()
	if c != '-' && !isDigit(c) {
		return p.other()
	}
	start := p.i
	plain, ok := p.number()
	if !ok {
		return badSyntax
	}
	if !isFloat(p.b[start:p.i], plain) {
		return unsure
	}
	return parsed
}

// other checks a value of a type the fast path does not take: unsure, unless the JSON is bad.
func (p *bodyParser) other() parseStatus {
	if !p.value() {
		return badSyntax
	}
	return unsure
}

// Operation keys of an op object, as bits.
const (
	oSet = 1 << iota
	oSetOnce
	oAdd
	oAppend
	oRemove
	oUnset
)

// operations reads $user_operations: an array of op objects, or null for none (the Go SDK
// 0.5.0 sends null for a user without operations).
func (p *bodyParser) operations() ([]op, parseStatus) {
	if p.peek() == 'n' {
		if !p.literal("null") {
			return nil, badSyntax
		}
		return []op{}, parsed
	}
	if p.peek() != '[' {
		return nil, p.other()
	}
	if !p.open() {
		return nil, badSyntax
	}
	start := len(p.ops)
	p.ws()
	if p.peek() == ']' {
		p.i++
		p.depth--
		return []op{}, parsed
	}
	for {
		o, st := p.operation()
		if st != parsed {
			return nil, st
		}
		p.ops = append(p.ops, o)
		end, ok := p.next(']')
		if !ok {
			return nil, badSyntax
		}
		if end {
			break
		}
	}
	return p.ops[start:len(p.ops):len(p.ops)], parsed
}

// operation reads one op object.
func (p *bodyParser) operation() (op, parseStatus) {
	var o op
	if p.peek() != '{' {
		return o, p.other()
	}
	if !p.open() {
		return o, badSyntax
	}
	p.ws()
	if p.peek() == '}' {
		p.i++
		p.depth--
		return o, parsed
	}
	seen := 0
	for {
		if p.peek() != '"' {
			return o, badSyntax
		}
		k, ok := p.string()
		if !ok || !p.colon() {
			return o, badSyntax
		}
		if k.esc {
			return o, unsure
		}
		var st parseStatus
		bit := 0
		switch string(p.b[k.start:k.end]) {
		case "$set":
			bit = oSet
			o.set, st = p.members(kindAny)
		case "$set_once":
			bit = oSetOnce
			o.setOnce, st = p.members(kindAny)
		case "$add":
			bit = oAdd
			o.add, st = p.members(kindNumber)
		case "$append":
			bit = oAppend
			o.append, st = p.members(kindChannel)
		case "$remove":
			bit = oRemove
			o.remove, st = p.members(kindChannel)
		case "$unset":
			bit = oUnset
			o.unset, st = p.unset()
		default:
			return o, unsure // unknown operation
		}
		if st == parsed && seen&bit != 0 {
			st = unsure // a repeated operation key: the last one wins there
		}
		if st != parsed {
			return o, st
		}
		seen |= bit
		end, ok := p.next('}')
		if !ok {
			return o, badSyntax
		}
		if end {
			return o, parsed
		}
	}
}

// What members requires of the values of an operation's object.
const (
	kindAny     = iota // $set, $set_once: any value
	kindNumber         // $add: numbers
	kindChannel        // $append, $remove: channel keys need their channel's type
)

// members reads an operation's object into kvs, sorted by key, the last of equal keys kept.
func (p *bodyParser) members(kind int) ([]kv, parseStatus) {
	if p.peek() != '{' {
		return nil, p.other()
	}
	if !p.open() {
		return nil, badSyntax
	}
	start := len(p.kvs)
	p.ws()
	if p.peek() == '}' {
		p.i++
		p.depth--
		return []kv{}, parsed
	}
	for {
		if p.peek() != '"' {
			return nil, badSyntax
		}
		k, ok := p.string()
		if !ok || !p.colon() {
			return nil, badSyntax
		}
		key := p.text(k)
		vs := p.i
		st := parsed
		switch kind {
		case kindAny:
			st = syntax(p.value())
		case kindNumber:
			st = p.numberValue()
		case kindChannel:
			st = p.channelValue(key)
		}
		if st != parsed {
			return nil, st
		}
		p.kvs = append(p.kvs, kv{key: key, val: p.b[vs:p.i]})
		end, ok := p.next('}')
		if !ok {
			return nil, badSyntax
		}
		if end {
			break
		}
	}
	return sortKVs(p.kvs[start:len(p.kvs):len(p.kvs)]), parsed
}

// channelValue checks the value of an $append or $remove member named key.
func (p *bodyParser) channelValue(key []byte) parseStatus {
	switch channelKind(key) {
	case chString:
		v, st := p.stringValue()
		if st == parsed && len(bytes.TrimSpace(v)) == 0 {
			st = unsure
		}
		return st
	case chObject:
		if p.peek() != '{' {
			return p.other()
		}
	case chProvider:
		if c := p.peek(); c != '"' && c != 'n' {
			return p.other()
		}
	}
	return syntax(p.value())
}

// unset reads $unset: an array of strings.
func (p *bodyParser) unset() ([]string, parseStatus) {
	if p.peek() != '[' {
		return nil, p.other()
	}
	if !p.open() {
		return nil, badSyntax
	}
	out := []string{}
	p.ws()
	if p.peek() == ']' {
		p.i++
		p.depth--
		return out, parsed
	}
	for {
		v, st := p.stringValue()
		if st != parsed {
			return nil, st
		}
		out = append(out, string(v))
		end, ok := p.next(']')
		if !ok {
			return nil, badSyntax
		}
		if end {
			return out, parsed
		}
	}
}

// parseEvents turns a body into its events, or the request error that refuses it.
func (p *bodyParser) parseEvents(body []byte) ([]rawEvent, *requestError) {
	if !p.parseBody(body) {
		if json.Valid(body) {
			// The scanner disagrees with encoding/json: never expected; trust the reference.
			raws, rerr := splitBody(body)
			if rerr != nil {
				return nil, rerr
			}
			evs := make([]rawEvent, len(raws))
			for i, r := range raws {
				evs[i].raw = r
			}
			return evs, nil
		}
		return nil, &requestError{Status: 400, Cause: "bad_json", Msg: "body is not a JSON event or array of events"}
	}
	if len(p.evs) > MaxEvents {
		return nil, &requestError{Status: 400, Cause: "too_many_events",
			Msg: fmt.Sprintf("more than %d events in one request", MaxEvents)}
	}
	return p.evs, nil
}
