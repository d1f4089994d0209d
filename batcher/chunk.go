package batcher

import (
	"errors"
	"fmt"
	"time"
)

// Record is one identity event on its way to a chunk.
type Record struct {
	Key  string // distinct_id: the sender keeps per-key order
	Body []byte // one identity event, compact JSON object
	Ref  uint64 // the caller's handle, returned untouched
}

// Chunk is a closed batch: the records in the order they were added and the body to send.
type Chunk struct {
	// Records are the chunk's records in order. Each Body is a sub-slice of the chunk's Body,
	// not the caller's slice.
	Records []Record
	// Body is "[" + record bodies joined by "," + "]": the exact bytes that will be sent.
	Body []byte
	// Reason says why the chunk closed.
	Reason FlushReason
}

// FlushReason says why a chunk closed; it is meant for metric labels.
type FlushReason string

// The reasons a chunk closes.
const (
	FlushCount    FlushReason = "count"    // MaxRecords reached
	FlushBytes    FlushReason = "bytes"    // the next record did not fit in MaxBytes
	FlushLinger   FlushReason = "linger"   // the first record waited Linger
	FlushShutdown FlushReason = "shutdown" // the owner is stopping
	FlushRevoke   FlushReason = "revoke"   // the owner lost the partitions the records came from
	FlushResize   FlushReason = "resize"   // the owner changed how many chunks it keeps open
)

// Errors Add returns; the record is not added.
var (
	// ErrRecordTooLarge means the body alone, wrapped in brackets, exceeds MaxBytes.
	ErrRecordTooLarge = errors.New("batcher: record too large for a chunk")
	// ErrEmptyRecord means the body has no bytes.
	ErrEmptyRecord = errors.New("batcher: empty record body")
)

// span is where a record's body sits in the open chunk's body.
type span struct{ off, n int }

// Batcher accumulates records into chunks. It is not safe for concurrent use.
type Batcher struct {
	cfg    Config
	recs   []Record
	spans  []span // parallel to recs; reused across chunks
	body   []byte // open chunk body, starting with '['; nil when no chunk is open
	opened time.Time

	// Capacity hints taken from the last closed chunk, so a steady stream allocates
	// each chunk's buffers about once instead of growing them by doubling.
	lastBytes, lastRecords int
}

// New returns an empty Batcher, or an error when cfg is invalid.
func New(cfg Config) (*Batcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Batcher{cfg: cfg, spans: make([]span, 0, cfg.MaxRecords)}, nil
}

// Config returns the configuration the Batcher was built with.
func (b *Batcher) Config() Config { return b.cfg }

// Add appends r; it returns the chunks that adding r closed (usually none; the open chunk when r
// did not fit in its bytes (reason bytes), or the chunk r filled to MaxRecords (reason count)).
// A record whose body alone cannot fit in MaxBytes is an error (ErrRecordTooLarge) and is not
// added. Add copies r.Body: the caller may reuse it once Add returns.
func (b *Batcher) Add(r Record) ([]Chunk, error) {
	n := len(r.Body)
	if n == 0 {
		return nil, ErrEmptyRecord
	}
	if n+2 > b.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d fit", ErrRecordTooLarge, n, b.cfg.MaxBytes-2)
	}
	var out []Chunk
	if b.body != nil && len(b.body)+1+n+1 > b.cfg.MaxBytes {
		c, _ := b.Flush(FlushBytes)
		out = append(out, c)
	}
	if b.body == nil {
		b.open(n)
	} else {
		b.body = append(b.body, ',')
	}
	b.spans = append(b.spans, span{off: len(b.body), n: n})
	b.body = append(b.body, r.Body...)
	r.Body = nil // never keep the caller's buffer
	b.recs = append(b.recs, r)
	if len(b.recs) >= b.cfg.MaxRecords {
		c, _ := b.Flush(FlushCount)
		out = append(out, c)
	}
	return out, nil
}

// open starts a chunk whose first record has n bytes.
func (b *Batcher) open(n int) {
	capBytes := max(b.lastBytes+b.lastBytes/8, 2*n+2, 4096)
	capBytes = min(capBytes, b.cfg.MaxBytes)
	b.body = make([]byte, 1, capBytes)
	b.body[0] = '['
	capRecs := min(max(b.lastRecords+b.lastRecords/8, 16), b.cfg.MaxRecords)
	b.recs = make([]Record, 0, capRecs)
	b.opened = time.Now()
}

// Flush closes the open chunk, if any, with the given reason.
func (b *Batcher) Flush(reason FlushReason) (Chunk, bool) {
	if b.body == nil {
		return Chunk{}, false
	}
	body := append(b.body, ']')
	recs := b.recs
	for i, sp := range b.spans {
		recs[i].Body = body[sp.off : sp.off+sp.n : sp.off+sp.n]
	}
	b.lastBytes, b.lastRecords = len(body), len(recs)
	b.body, b.recs, b.spans = nil, nil, b.spans[:0]
	return Chunk{Records: recs, Body: body, Reason: reason}, true
}

// Deadline reports when the open chunk's linger expires: the first record's Add time plus
// Linger. ok is false when no chunk is open.
func (b *Batcher) Deadline() (deadline time.Time, ok bool) {
	if b.body == nil {
		return time.Time{}, false
	}
	return b.opened.Add(b.cfg.Linger), true
}

// Len is the number of records in the open chunk.
func (b *Batcher) Len() int { return len(b.recs) }

// Size is the number of bytes the open chunk's body would have if it closed now.
func (b *Batcher) Size() int {
	if b.body == nil {
		return 0
	}
	return len(b.body) + 1
}

// Encode returns the body of a chunk holding records, in order: "[" + bodies joined by "," +
// "]". The sender uses it to build the body of part of a chunk.
func Encode(records []Record) []byte {
	n := 2
	for _, r := range records {
		n += len(r.Body) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, r := range records {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r.Body...)
	}
	return append(out, ']')
}
