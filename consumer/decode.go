package consumer

import (
	"context"
	"sync"

	"github.com/profile-ingest/profile-ingest/dlq"
	"github.com/profile-ingest/profile-ingest/profile"
)

// Decoding runs beside the pipeline, on consumer.decode_workers goroutines, so that a worker
// uses every core it is given: the fetch loop cuts each partition's records into batches
// (batchRecords and batchBytes at most), queues every batch both to the pool (work) and, in
// fetch order, to the pipeline (out). A pool goroutine decodes a whole batch and closes its
// done; the pipeline takes the batches in the order they were queued, waiting for the one at
// the head to be done, so records reach the batchers, the offsets and the dead-letter topic in
// the order they were fetched however the pool's goroutines finish: per-partition order, and
// so per-user order, is the fetch order. The pipeline stays the only goroutine that touches
// the offsets, the batchers and the in-flight records.
//
// Memory: an event's bytes are taken from the fetch budget (consumer.max_in_flight_bytes) by
// the goroutine that decodes it, as its record's bytes were by the fetch loop, so decoded
// records waiting for the pipeline count against the same bound; in records, what waits is at
// most queueDepth(workers)+1 batches (out's capacity, and the one the pipeline holds).
//
// Shutdown: the pool's goroutines watch the fetch loop's context between batches, so a revoke
// or a shutdown waits for at most one batch per goroutine (batchRecords records), and the fetch
// loop returns only once they have all ended. Batches not taken by the pipeline when its
// generation ends are dropped: their records were never added to the offsets, so they are not
// committed and are read again.

const (
	// batchRecords and batchBytes bound a decode batch: small enough that the pool's
	// goroutines share a partition's answer and a revoke waits little for one, large enough
	// that handing batches over costs little per record.
	batchRecords = 128
	batchBytes   = 256 << 10
)

// queueDepth is how many batches wait, decoded or not, between the fetch loop and the
// pipeline: enough to keep every pool goroutine busy while the pipeline takes a batch, and
// deep enough that neither side waits on the other's every hiccup (a goroutine descheduled, a
// batch that decodes slowly): 16 per goroutine drained 1,000,000 small records in 0.91× the
// wall time of 2 per goroutine, at the same CPU. Their bytes are in the fetch budget.
func queueDepth(workers int) int { return 16 * workers }

// decodeBatch is a run of items of one partition, in offset order, on its way to the
// pipeline; a pool goroutine decodes its records and then closes done. A batch of gap items
// only is queued done.
type decodeBatch struct {
	items []fetched
	done  chan struct{}
	arena *[]byte // the buffer its events' bodies share, once decoded
}

// Recycling: once the pipeline has taken every item of a batch it gives the batch's items and
// body buffer back (release), and the fetch loop and the pool reuse them for the next batches:
// a worker draining a backlog would otherwise allocate every record's item and event twice
// over, and the collector would spend a tenth of the worker's CPU taking them back. Nothing
// keeps a reference into a taken batch: take copies a record's message and the event's user
// out of its item, and the batcher copies the event's body.
var (
	// itemPools hold empty items slices by capacity class: firstBatchRecords << i.
	itemPools [itemClasses]sync.Pool
	arenas    sync.Pool
)

const itemClasses = 4 // 16, 32, 64, 128 = batchRecords

func itemClass(n int) int {
	c := 0
	for firstBatchRecords<<c < n && c < itemClasses-1 {
		c++
	}
	return c
}

// newItems returns an empty items slice with room for n items (n a capacity class).
func newItems(n int) []fetched {
	if v, ok := itemPools[itemClass(n)].Get().(*[]fetched); ok && cap(*v) >= n {
		return (*v)[:0]
	}
	return make([]fetched, 0, n)
}

// newArena returns an empty buffer with room for size bytes.
func newArena(size int) *[]byte {
	if v, ok := arenas.Get().(*[]byte); ok && cap(*v) >= size {
		*v = (*v)[:0]
		return v
	}
	a := make([]byte, 0, size)
	return &a
}

// release gives b's items and body buffer back for reuse; b must not be used after.
func (b *decodeBatch) release() {
	if c := cap(b.items); c >= firstBatchRecords && c == firstBatchRecords<<itemClass(c) {
		items := b.items[:0]
		clear(b.items) // drop the messages and events for the collector
		itemPools[itemClass(c)].Put(&items)
	}
	if b.arena != nil {
		arenas.Put(b.arena)
	}
	b.items, b.arena = nil, nil
}

// decodePool decodes the batches queued to work until ctx ends.
type decodePool struct {
	w      *Worker
	budget *budget
	work   chan *decodeBatch
	wg     sync.WaitGroup
}

// startDecodePool starts w.cfg.DecodeWorkers goroutines that decode what is queued to the
// returned pool's work; they end when ctx ends (stop waits for them).
func (w *Worker) startDecodePool(ctx context.Context, b *budget) *decodePool {
	n := max(w.cfg.DecodeWorkers, 1)
	p := &decodePool{w: w, budget: b, work: make(chan *decodeBatch, queueDepth(n))}
	p.wg.Add(n)
	for range n {
		go func() {
			defer p.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case b := <-p.work:
					p.decode(b)
				}
			}
		}()
	}
	return p
}

// stop waits for the pool's goroutines, once the context they were started with has ended.
func (p *decodePool) stop() { p.wg.Wait() }

// decode decodes the records of b, each into its item, takes the events' bytes from the
// budget, and closes b.done. The events' bodies share one buffer (the batcher copies a body
// when it takes it), sized for the batch (no body is over profile.MaxEventBytes): one
// allocation per batch instead of one per record.
func (p *decodePool) decode(b *decodeBatch) {
	size := 0
	for i := range b.items {
		if !b.items[i].gap {
			size += min(len(b.items[i].msg.Value)+bodyOverhead, profile.MaxEventBytes)
		}
	}
	b.arena = newArena(size)
	arena := *b.arena
	for i := range b.items {
		if !b.items[i].gap {
			arena = p.w.decodeItem(&b.items[i], p.budget, arena)
		}
	}
	*b.arena = arena
	close(b.done)
}

// bodyOverhead is what an event's body adds to its message on average ($insert_id, $time,
// the SDK's fields): the room a batch's shared body buffer leaves per record. A body that does
// not fit in what is left gets a buffer of its own.
const bodyOverhead = 256

// decodeItem decodes the record of it into it, its body at the free end of arena when it fits,
// taking the event's bytes from b; it returns arena with the body appended when it went there.
func (w *Worker) decodeItem(it *fetched, b *budget, arena []byte) []byte {
	it.insertID, _ = dlq.Header(it.msg.Headers, dlq.HeaderInsertID)
	free := arena[len(arena):]
	it.ev, it.err = w.decode(free, it.msg.Value, profile.Origin{Topic: it.tp.Topic, Partition: it.tp.Partition,
		Offset: it.msg.Offset, Timestamp: it.msg.Time, InsertID: it.insertID, Key: it.msg.Key})
	if it.err != nil {
		return arena
	}
	// The event is held as long as the record: it counts against the same budget.
	it.charge += len(it.ev.Body)
	b.take(len(it.ev.Body))
	if n := len(it.ev.Body); n > 0 && n <= cap(free) && &free[:1][0] == &it.ev.Body[0] {
		arena = arena[:len(arena)+n] // the body went to the free end: keep it
	}
	return arena
}

// batchBuilder cuts one partition's items into decode batches as the fetch loop copies them
// out: each batch is allocated once, the first ones small (a partition with few records in
// an answer costs little), the next twice as large, up to batchRecords.
type batchBuilder struct {
	out     []*decodeBatch
	cur     []fetched
	size    int  // the value bytes of cur
	records bool // cur holds a record, not only gaps
}

const firstBatchRecords = 16

func (bb *batchBuilder) add(it fetched) {
	if len(bb.cur) == cap(bb.cur) || bb.size >= batchBytes {
		next := firstBatchRecords
		if cap(bb.cur) > 0 {
			next = min(2*cap(bb.cur), batchRecords)
		}
		bb.close()
		bb.cur = newItems(next)
	}
	bb.cur = append(bb.cur, it)
	bb.size += len(it.msg.Value)
	bb.records = bb.records || !it.gap
}

// close ends the current batch.
func (bb *batchBuilder) close() {
	if len(bb.cur) == 0 {
		return
	}
	b := &decodeBatch{items: bb.cur, done: closedDone}
	if bb.records {
		b.done = make(chan struct{})
	}
	bb.out = append(bb.out, b)
	bb.cur, bb.size, bb.records = nil, 0, false
}

// finish returns the batches, in order.
func (bb *batchBuilder) finish() []*decodeBatch {
	bb.close()
	return bb.out
}

// closedDone is the done of a batch that needs no decoding.
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()
