package profile

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// decoder holds the scratch space of one Decode call; decoders are pooled.
type decoder struct {
	data    []byte
	ix      valueIndex // data's strings, objects and arrays, filled by checkJSONIndex
	buf     []byte
	ops     []byte // the operations onePass writes before the fields that lead the event
	members []member
}

// bufCap is the capacity of a decoder's output buffer: an event up to MaxEventBytes and the
// operation that takes it over the limit fit without growing it (decode drops the output of
// operations past the limit and only counts its bytes).
const bufCap = MaxEventBytes + 4096

var decoderPool = sync.Pool{New: func() any {
	return &decoder{buf: make([]byte, 0, bufCap), members: make([]member, 0, 16)}
}}

// Decoder turns messages into identity events with Options checked once, by NewDecoder: a
// configuration fault fails the start instead of rejecting every message. A Decoder is
// immutable and safe for concurrent use.
type Decoder struct {
	opts Options
	// The event's parts that are the same for every message, written once:
	// `,"env":<key>,"distinct_id":` and `],"properties":{"$ss_sdk_version":<agent>}}`.
	env, tail string
}

// NewDecoder returns a Decoder for opts, or the error of opts.Validate naming the unusable field.
func NewDecoder(opts Options) (*Decoder, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Decoder{
		opts: opts,
		env:  string(appendString([]byte(`,"env":`), opts.WorkspaceKey)) + `,"distinct_id":`,
		tail: string(appendString([]byte(`],"properties":{"$ss_sdk_version":`), opts.UserAgent)) + `}}`,
	}, nil
}

// Decode turns one message (a Kafka record's value) into the identity event to send, or
// rejects it whole. The message is either a v1 message ({"distinct_id", "operations", ...}, see
// docs/message-schema.md) or an identity event as an official SDK builds it (it has
// "$user_operations"). The error, when not nil, is always a *Error. Decode never panics and
// does not keep value; its time is linear in len(value).
func (dec *Decoder) Decode(value []byte, origin Origin) (Event, error) {
	return dec.DecodeTo(nil, value, origin)
}

// DecodeTo is Decode that writes the event's body into buf's storage when it is large enough,
// instead of allocating a new one: a caller that is done with an event's Body before it
// decodes the next record (batcher.Batcher.Add copies it) can pass the last Body back as buf
// and decode without allocating a body per record. buf's contents are overwritten; with a nil
// buf, DecodeTo is Decode. Calls that run at the same time must not share a buf.
func (dec *Decoder) DecodeTo(buf, value []byte, origin Origin) (Event, error) {
	d := decoderPool.Get().(*decoder)
	defer d.release()
	d.data = value
	// A buf with room for the usual event (the message and what the SDK's fields add, or all
	// a decoder's buffer holds) takes the event as it is written, saving a copy of each body;
	// else the body is written to the decoder's buffer and copied out.
	own := d.buf
	direct := cap(buf) >= min(len(value)+directRoom, bufCap)
	out := d.buf[:0]
	if direct {
		out = buf[:0]
	}
	d.buf = out
	ev, ok := d.onePass(origin, dec)
	if !ok { // an identity event, an unusual message or a refusal: see onepass.go
		d.buf = out
		if e := checkJSONIndex(value, &d.ix); e != nil {
			d.buf = own
			return Event{}, e
		}
		var e *Error
		if ev, e = d.decode(origin, dec); e != nil {
			d.buf = own
			return Event{}, e
		}
	}
	d.buf = own // the pool keeps its own buffer, never buf nor what the event grew into
	if direct {
		return ev, nil
	}
	// ev.Body is the decoder's buffer, which goes back to the pool.
	if cap(buf) < len(ev.Body) {
		buf = make([]byte, len(ev.Body))
	}
	ev.Body = buf[:copy(buf[:cap(buf)], ev.Body)]
	return ev, nil
}

// directRoom is what DecodeTo expects an event to add to its message: a buf with that much
// room past the message's length is written to directly.
const directRoom = 256

// release returns d to the pool, without scratch space that grew large.
func (d *decoder) release() {
	d.data = nil
	if cap(d.buf) > 4*bufCap {
		d.buf = make([]byte, 0, bufCap)
	}
	if cap(d.ops) > 4*bufCap {
		d.ops = make([]byte, 0, bufCap)
	}
	if cap(d.ix.vals) > 16<<10 {
		d.ix = valueIndex{}
	}
	decoderPool.Put(d)
}

// Top-level fields of both message forms.
const (
	fDistinctID = iota
	fOperations // v1
	fEventID    // v1
	fTime       // v1
	fSchema     // identity event
	fInsertID   // identity event
	fEventTime  // identity event: $time
	fEnv        // identity event
	fUserOps    // identity event: $user_operations
	fProperties // identity event
	nFields
)

// topField returns the field id of a top-level key, or -1.
func topField(name []byte) int {
	switch string(name) {
	case "distinct_id":
		return fDistinctID
	case "operations":
		return fOperations
	case "event_id":
		return fEventID
	case "time":
		return fTime
	case "$schema":
		return fSchema
	case "$insert_id":
		return fInsertID
	case "$time":
		return fEventTime
	case "env":
		return fEnv
	case "$user_operations":
		return fUserOps
	case "properties":
		return fProperties
	}
	return -1
}

var topFieldNames = [nFields]string{"distinct_id", "operations", "event_id", "time",
	"$schema", "$insert_id", "$time", "env", "$user_operations", "properties"}

type span struct{ vs, ve int }

func (d *decoder) decode(origin Origin, dec *Decoder) (Event, *Error) {
	opts := dec.opts
	data := d.data
	start := skipWS(data, 0)
	if data[start] != '{' {
		return Event{}, messageErr("", "the message must be a JSON object, got "+kindName(data[start:]))
	}
	var f [nFields]span
	for i := range f {
		f[i].vs = -1
	}
	it := newObjIter(data, &d.ix, start)
	for k, vs, ve, ok := it.next(); ok; k, vs, ve, ok = it.next() {
		name := unquote(k)
		id := topField(name)
		if id < 0 {
			return Event{}, messageErr("", "unknown field "+quote(name))
		}
		if f[id].vs >= 0 {
			return Event{}, messageErr("", "duplicate field "+quote(name))
		}
		f[id] = span{vs, ve}
	}
	event := f[fUserOps].vs >= 0
	wrong := -1
	for id := fOperations; id < nFields; id++ {
		if f[id].vs >= 0 && (id >= fSchema) != event && (wrong < 0 || f[id].vs < f[wrong].vs) {
			wrong = id
		}
	}
	if wrong >= 0 {
		if event {
			return Event{}, messageErr("", "field "+strconv.Quote(topFieldNames[wrong])+" is not allowed in an identity event (a message with $user_operations)")
		}
		return Event{}, messageErr("", "unknown field "+strconv.Quote(topFieldNames[wrong])+" (identity-event fields need $user_operations)")
	}
	val := func(id int) []byte { return data[f[id].vs:f[id].ve] }

	if f[fDistinctID].vs < 0 {
		return Event{}, messageErr("distinct_id", "is missing")
	}
	v := val(fDistinctID)
	if v[0] != '"' {
		return Event{}, messageErr("distinct_id", "must be a non-empty string, got "+kindName(v))
	}
	distinctID := trim(unquote(v))
	if len(distinctID) == 0 {
		return Event{}, messageErr("distinct_id", "must be a non-empty string, got "+quote(unquote(v)))
	}

	var insertID string
	ms := int64(-1)
	opsField := fOperations
	if event {
		opsField = fUserOps
		if f[fSchema].vs >= 0 {
			if v := val(fSchema); string(v) != `"2"` {
				return Event{}, messageErr("$schema", "must be \"2\", got "+describe(v))
			}
		}
		if f[fInsertID].vs >= 0 {
			id, e := eventID(val(fInsertID), "$insert_id")
			if e != nil {
				return Event{}, e
			}
			insertID = id
		}
		if f[fEventTime].vs >= 0 {
			v := val(fEventTime)
			if v[0] == '"' {
				return Event{}, messageErr("$time", "must be epoch milliseconds (a number), got a string")
			}
			t, e := parseTime(v, "$time")
			if e != nil {
				return Event{}, e
			}
			ms = t
		}
		if f[fEnv].vs >= 0 {
			v := val(fEnv)
			if v[0] != '"' || string(unquote(v)) != opts.WorkspaceKey {
				return Event{}, messageErr("env", describe(v)+" is not the workspace key this worker sends to")
			}
		}
		if f[fProperties].vs >= 0 {
			if e := checkProperties(data, &d.ix, f[fProperties]); e != nil {
				return Event{}, e
			}
		}
	} else {
		if f[fEventID].vs >= 0 {
			id, e := eventID(val(fEventID), "event_id")
			if e != nil {
				return Event{}, e
			}
			insertID = id
		}
		if f[fTime].vs >= 0 {
			t, e := parseTime(val(fTime), "time")
			if e != nil {
				return Event{}, e
			}
			ms = t
		}
	}
	if f[opsField].vs < 0 {
		return Event{}, messageErr(topFieldNames[opsField], "is missing")
	}
	// An identity event's null $user_operations is no operations: the Go SDK 0.5.0 sends it
	// for a user without operations, and the API accepts it.
	noOps := event && string(val(opsField)) == "null"
	if v := val(opsField); v[0] != '[' && !noOps {
		return Event{}, messageErr(topFieldNames[opsField], "must be an array of operations, got "+kindName(v))
	}
	insertID, ms, e := fromRecord(insertID, ms, origin)
	if e != nil {
		return Event{}, e
	}
	d.buf = appendHead(d.buf, insertID, ms, distinctID, dec)
	// Once the event is over MaxEventBytes it will be refused as too_large, unless an operation
	// is refused first: the output of the operations past the limit is counted in dropped and
	// cut from d.buf, so that its size stays bounded whatever the size of the message.
	opsStart, dropped := len(d.buf), 0
	if !noOps {
		ai := newArrIter(data, &d.ix, f[opsField].vs)
		n := 0
		for vs, ve, ok := ai.next(); ok; vs, ve, ok = ai.next() {
			if len(d.buf) > MaxEventBytes {
				dropped += len(d.buf) - opsStart
				d.buf = d.buf[:opsStart]
			}
			if n > 0 {
				d.buf = append(d.buf, ',')
			}
			var e *Error
			if event {
				e = d.eventOp(n, vs, ve)
			} else {
				e = d.v1Op(n, vs, ve)
			}
			if e != nil {
				return Event{}, e
			}
			n++
		}
	}
	b := append(d.buf, dec.tail...)
	d.buf = b
	if size := len(b) + dropped; size > MaxEventBytes {
		return Event{}, &Error{Reason: ReasonTooLarge, Msg: "the event is " + strconv.Itoa(size) +
			" bytes as it would be sent, over the limit of " + strconv.Itoa(MaxEventBytes)}
	}
	return Event{
		DistinctID: string(distinctID),
		InsertID:   insertID,
		Time:       time.UnixMilli(ms).UTC(),
		Body:       b, // d.buf: DecodeTo copies it out
	}, nil
}

// fromRecord returns the insert id and time (epoch milliseconds) of an event whose message
// gave insertID ("" when it gave none) and ms (-1 when it gave none), taking what is missing
// from its record.
func fromRecord(insertID string, ms int64, origin Origin) (string, int64, *Error) {
	if insertID == "" {
		if insertID = origin.InsertID; insertID == "" {
			insertID = InsertIDFor(origin)
		} else if e := carriedInsertID(insertID); e != nil {
			return "", 0, e
		}
	}
	if ms < 0 {
		t := origin.Timestamp
		if t.IsZero() {
			t = time.Now()
		}
		ms = t.UnixMilli()
	}
	return insertID, ms, nil
}

// appendHead appends an event's fields up to its operations: up to `"$user_operations":[`.
func appendHead(b []byte, insertID string, ms int64, distinctID []byte, dec *Decoder) []byte {
	b = append(b, `{"$schema":"2","$insert_id":`...)
	b = appendString(b, insertID)
	b = append(b, `,"$time":`...)
	b = strconv.AppendInt(b, ms, 10)
	b = append(b, dec.env...)
	b = appendString(b, distinctID)
	return append(b, `,"$user_operations":[`...)
}

// describe names a value for an error: a string quoted (and cut), else its type.
func describe(v []byte) string {
	if v[0] == '"' {
		return quote(unquote(v))
	}
	return kindName(v)
}

func eventID(v []byte, field string) (string, *Error) {
	if v[0] != '"' {
		return "", messageErr(field, "must be a non-empty string, got "+kindName(v))
	}
	s := unquote(v)
	switch {
	case len(trim(s)) == 0:
		return "", messageErr(field, "must be a non-empty string, got "+quote(s))
	case len(s) > maxEventIDBytes:
		return "", messageErr(field, quote(s)+" is longer than "+strconv.Itoa(maxEventIDBytes)+" bytes")
	}
	return string(s), nil
}

// carriedInsertID checks an Origin.InsertID as an event_id is checked.
func carriedInsertID(id string) *Error {
	const field = "header " + InsertIDHeader
	switch {
	case !utf8.ValidString(id):
		return messageErr(field, "is not valid UTF-8")
	case len(trim([]byte(id))) == 0:
		return messageErr(field, "must be a non-empty string, got "+quote([]byte(id)))
	case len(id) > maxEventIDBytes:
		return messageErr(field, quote([]byte(id))+" is longer than "+strconv.Itoa(maxEventIDBytes)+" bytes")
	}
	return nil
}

// checkProperties accepts the properties of an SDK-built event: an object whose only key is
// $ss_sdk_version. This worker replaces its value with its own user agent.
func checkProperties(data []byte, ix *valueIndex, s span) *Error {
	v := data[s.vs:s.ve]
	if v[0] != '{' {
		return messageErr("properties", "must be an object, got "+kindName(v))
	}
	it := newObjIter(data, ix, s.vs)
	for k, _, _, ok := it.next(); ok; k, _, _, ok = it.next() {
		if name := unquote(k); string(name) != "$ss_sdk_version" {
			return messageErr("properties", "unknown property "+quote(name)+" (only $ss_sdk_version is allowed; it is replaced by this worker's)")
		}
	}
	return nil
}

// eventOp validates and appends one element of an SDK-built event's $user_operations.
func (d *decoder) eventOp(idx, vs, ve int) *Error {
	l := loc{list: "$user_operations", idx: idx}
	v := d.data[vs:ve]
	if v[0] != '{' {
		return l.err("must be an object of $set, $set_once, $add, $append, $remove or $unset, got " + kindName(v))
	}
	d.buf = append(d.buf, '{')
	var seen [opRemove + 1]bool
	n := 0
	it := newObjIter(d.data, &d.ix, vs)
	for k, mvs, mve, ok := it.next(); ok; k, mvs, mve, ok = it.next() {
		name := unquote(k)
		kind, known := eventOpKey(name)
		if !known {
			return l.err("unknown key " + quote(name) + " (an operation has $set, $set_once, $add, $append, $remove or $unset)")
		}
		ol := l
		ol.name = opKey(kind)
		if seen[kind] {
			return ol.err("duplicate key")
		}
		seen[kind] = true
		if n > 0 {
			d.buf = append(d.buf, ',')
		}
		d.buf = append(d.buf, opHeads[kind][1:]...) // `"$set":`
		var e *Error
		if kind == opUnset {
			e = d.unsetList(ol, mvs, mve, false)
		} else {
			e = d.kvObject(ol, kind, mvs, mve)
		}
		if e != nil {
			return e
		}
		n++
	}
	if n == 0 {
		return l.err("must not be empty")
	}
	d.buf = append(d.buf, '}')
	return nil
}
