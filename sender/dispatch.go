package sender

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"

	"github.com/profile-ingest/profile-ingest/batcher"
)

// Dispatcher sends up to maxInFlight chunks at once. A chunk starts only when no earlier
// unresolved chunk shares a Key with it, so a user's events reach the API in submission order
// even while other users' chunks overtake each other. Chunks waiting for an earlier one do not
// take a sending slot: up to QueueFactor*maxInFlight chunks may be submitted and unresolved,
// so a user whose chunk is retrying does not hold back the others.
//
// A chunk whose records are Abandoned (its context ended) stays unresolved for ever as far as
// order goes: the chunks submitted before that and still waiting on it (directly or through
// another waiting chunk) are abandoned too, unsent, instead of overtaking it, and their done
// runs after its own.
type Dispatcher struct {
	s           *Sender
	maxInFlight int
	seed        maphash.Seed  // of the keys' hashes
	sem         chan struct{} // one token per submitted chunk whose done has not returned

	running int // chunks being sent; guarded by mu

	mu      sync.Mutex
	pending []*job // submitted, not resolved, in submission order
	active  int    // submitted chunks whose done has not returned
	idle    chan struct{}
}

type job struct {
	ctx     context.Context
	chunk   batcher.Chunk
	keys    []uint64 // the hashes of its records' keys, sorted, once each
	done    func(batcher.Chunk, []Result)
	started bool // Send began, or the chunk was abandoned unsent
	stop    func() bool
}

// NewDispatcher returns a Dispatcher over s; maxInFlight <= 0 means s's Config.MaxInFlight.
func NewDispatcher(s *Sender, maxInFlight int) *Dispatcher {
	if maxInFlight <= 0 {
		maxInFlight = s.cfg.MaxInFlight
	}
	return &Dispatcher{s: s, maxInFlight: maxInFlight, seed: maphash.MakeSeed(),
		sem: make(chan struct{}, QueueFactor*maxInFlight), idle: make(chan struct{})}
}

// QueueFactor is how many chunks per sending slot may be submitted and unresolved at once.
const QueueFactor = 4

// Submit queues c. It blocks while QueueFactor*maxInFlight chunks are submitted and unresolved (their done
// not yet returned), or until ctx is done, in which case c is not queued and the context's
// error is returned. done runs once, on a dispatcher goroutine, after the chunk resolves (or is
// Abandoned when ctx ends); ctx also bounds the sending.
func (d *Dispatcher) Submit(ctx context.Context, c batcher.Chunk, done func(batcher.Chunk, []Result)) error {
	if err := context.Cause(ctx); err != nil {
		return err
	}
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	j := &job{ctx: ctx, chunk: c, done: done, keys: d.hashes(c.Records, nil)}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.active++
	d.pending = append(d.pending, j)
	// Set before the job can start; AfterFunc runs its function on its own goroutine.
	j.stop = context.AfterFunc(ctx, func() { d.abandonWaiting(j) })
	d.schedule()
	return nil
}

// Wait returns once every submitted chunk's done has returned, or with ctx's error.
func (d *Dispatcher) Wait(ctx context.Context) error {
	for {
		d.mu.Lock()
		if d.active == 0 {
			d.mu.Unlock()
			return nil
		}
		ch := d.idle
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// schedule starts, oldest first and while a sending slot is free, every waiting chunk that no
// earlier pending chunk conflicts with. d.mu is held.
func (d *Dispatcher) schedule() {
	for i, j := range d.pending {
		if d.running >= d.maxInFlight {
			return
		}
		if j.started || conflicts(j, d.pending[:i]) {
			continue
		}
		j.started = true
		d.running++
		go d.run(j)
	}
}

func conflicts(j *job, earlier []*job) bool {
	for _, e := range earlier {
		if intersect(j.keys, e.keys) {
			return true
		}
	}
	return false
}

// Keys are compared by their 64-bit hashes, sorted: two chunks are checked in one merge of
// two short lists instead of a map lookup per key (the check ran for every waiting chunk
// against every earlier one, 3% of the worker's CPU on small records). Two keys with the same
// hash only make a chunk wait for another it need not wait for.

// hashes returns the sorted hashes of the keys of recs (those whose keep is true, when keep is
// not nil), each once.
func (d *Dispatcher) hashes(recs []batcher.Record, keep func(i int) bool) []uint64 {
	hs := make([]uint64, 0, len(recs))
	for i, r := range recs {
		if keep == nil || keep(i) {
			hs = append(hs, maphash.String(d.seed, r.Key))
		}
	}
	slices.Sort(hs)
	return slices.Compact(hs)
}

// intersect reports whether the sorted lists a and b share a value.
func intersect(a, b []uint64) bool {
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0] < b[0]:
			a = a[1:]
		case a[0] > b[0]:
			b = b[1:]
		default:
			return true
		}
	}
	return false
}

// union returns the sorted values of the sorted lists a and b, each once.
func union(a, b []uint64) []uint64 {
	out := make([]uint64, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

func (d *Dispatcher) run(j *job) {
	j.stop()
	results := d.s.Send(j.ctx, j.chunk)
	d.mu.Lock()
	d.running--
	d.mu.Unlock()
	var abandoned []uint64
	if slices.ContainsFunc(results, func(r Result) bool { return r.Outcome == Abandoned }) {
		abandoned = d.hashes(j.chunk.Records, func(i int) bool { return results[i].Outcome == Abandoned })
	}
	d.settle(j, results, d.resolve(j, abandoned))
}

// abandonWaiting resolves j, if it is still waiting, as abandoned without sending it.
func (d *Dispatcher) abandonWaiting(j *job) {
	d.mu.Lock()
	if j.started {
		d.mu.Unlock()
		return
	}
	j.started = true
	d.mu.Unlock()
	d.settle(j, abandonedResults(j), d.resolve(j, j.keys))
}

// resolve removes j from the pending chunks, and with it the waiting chunks behind its
// abandoned keys, which it returns in submission order for settle to abandon after j; then it
// starts the chunks that are now free.
func (d *Dispatcher) resolve(j *job, abandoned []uint64) (tainted []*job) {
	d.mu.Lock()
	at := slices.Index(d.pending, j)
	if at < 0 {
		d.mu.Unlock()
		return nil
	}
	d.pending = slices.Delete(d.pending, at, at+1)
	if len(abandoned) > 0 {
		taint := &job{keys: abandoned}
		kept := d.pending[:at]
		for _, p := range d.pending[at:] {
			if p.started || !conflicts(p, []*job{taint}) {
				kept = append(kept, p)
				continue
			}
			p.started = true
			taint.keys = union(taint.keys, p.keys)
			tainted = append(tainted, p)
		}
		d.pending = kept
	}
	d.schedule()
	d.mu.Unlock()
	for _, p := range tainted {
		p.stop()
	}
	return tainted
}

// settle finishes j with results, then the chunks its abandonment abandoned, so that a user's
// chunks resolve in the order they were submitted.
func (d *Dispatcher) settle(j *job, results []Result, tainted []*job) {
	d.finish(j, results)
	for _, p := range tainted {
		d.finish(p, abandonedResults(p))
	}
}

// abandonedResults are the results of a chunk never sent.
func abandonedResults(j *job) []Result {
	res := make([]Result, len(j.chunk.Records))
	err := context.Cause(j.ctx)
	if err == nil {
		err = errEarlierAbandoned
	}
	for i := range res {
		res[i] = Result{Outcome: Abandoned, Err: err}
	}
	return res
}

// finish calls done and releases j's slot.
func (d *Dispatcher) finish(j *job, results []Result) {
	if j.done != nil {
		j.done(j.chunk, results)
	}
	d.mu.Lock()
	d.active--
	if d.active == 0 {
		close(d.idle)
		d.idle = make(chan struct{})
	}
	d.mu.Unlock()
	<-d.sem
}
