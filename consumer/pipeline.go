package consumer

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/batcher"
	"github.com/profile-ingest/profile-ingest/dlq"
	"github.com/profile-ingest/profile-ingest/profile"
	"github.com/profile-ingest/profile-ingest/sender"
)

// maxSubmitted bounds the chunks a Dispatcher holds unresolved (sender.QueueFactor times its
// maximum in flight, 64 at most): the results channel holds that many, so a dispatcher goroutine
// never blocks handing results back while the pipeline waits in Submit.
const maxSubmitted = 64 * sender.QueueFactor

// genResult is how a generation ended.
type genResult struct {
	finished      bool // StopAtEnd reached
	drainTimedOut bool
	err           error
}

// chunkDone carries a chunk's results from a dispatcher goroutine to the pipeline.
type chunkDone struct {
	chunk   batcher.Chunk
	results []sender.Result
}

// pipeline is the state of one generation, owned by the goroutine running runGeneration.
type pipeline struct {
	w             *Worker
	commitOffsets commitFunc // the generation's genCommitter
	// commitBy is the drain deadline, set when the drain begins: the final commit is retried
	// until then (finalCommitFloor at least).
	commitBy time.Time
	offsets  *Offsets
	// lanes build the chunks from the records of every owned partition, in the order they
	// arrive, so that chunks fill at moderate rates instead of each partition's closing on the
	// linger timer (SuprSend limits requests, not records). A user's records go to lane
	// hash(distinct_id) % width; width follows the rate and the API (see resize): one lane while
	// fewer than a chunk's worth of records arrive per linger or the API keeps up with one chunk
	// at a time, more when more arrive and chunks overlap, so that chunks of users that do not
	// meet can be sent in parallel. Per-user order does not need
	// per-partition chunks: a user's open records are all in one lane, chunks are submitted in
	// the order they close, the dispatcher starts a chunk only when no earlier unresolved chunk
	// holds one of its users, and each record's result resolves its own partition's offset.
	lanes      []*batcher.Batcher // min(Worker.slots, maxLanes), at least 1
	width      int
	window     time.Time // when the current rate window began
	windowRecs int       // records taken since window
	windowSize int       // their bytes
	pressed    bool      // records waited on the API during the window (see resize)
	windowPeak int       // the most chunks unresolved at once during the window
	unresolved int       // chunks closed and not yet resolved
	recs       inFlight
	bytes      int
	taken      int             // records taken since the counters were last told (countTaken)
	sendCtx    context.Context // ends at the drain deadline: sends and dead-letter writes are abandoned
	done       chan chunkDone
	dlqIn      chan dlq.Record
	dlqAcks    chan []uint64
	dlqRefs    chan uint64 // refs, in the order of dlqIn
	owned      map[TopicPartition]bool
	targets    map[TopicPartition]int64
	started    map[TopicPartition]int64
	budget     *budget // the fetch loop's; resolved records give their bytes back

	// queued holds closed chunks, oldest first, until submitLoop takes them through toSubmit:
	// the pipeline never blocks on the dispatcher (see drain.go).
	queued   []batcher.Chunk
	toSubmit chan batcher.Chunk
}

// newPipeline returns the state of a generation that commits with commit; sends and dead-letter
// writes end with sendCtx. w.batch must be valid.
func (w *Worker) newPipeline(sendCtx context.Context, commit commitFunc, targets map[TopicPartition]int64) *pipeline {
	p := &pipeline{width: 1, window: time.Now(),
		w: w, commitOffsets: commit, offsets: NewOffsets(),
		sendCtx: sendCtx, done: make(chan chunkDone, maxSubmitted),
		dlqIn: make(chan dlq.Record, w.cfg.MaxInFlightRecords), dlqRefs: make(chan uint64, w.cfg.MaxInFlightRecords),
		dlqAcks: make(chan []uint64, w.cfg.MaxInFlightRecords),
		owned:   map[TopicPartition]bool{}, targets: targets, started: map[TopicPartition]int64{},

		toSubmit: make(chan batcher.Chunk),
	}
	p.lanes = make([]*batcher.Batcher, min(max(w.slots, 1), maxLanes))
	for i := range p.lanes {
		p.lanes[i], _ = batcher.New(w.batch) // validated by runGeneration
	}
	return p
}

// assign takes tp into the pipeline, its next record expected at start (a committed offset, or
// kafka.FirstOffset/LastOffset for a group without one).
func (p *pipeline) assign(tp TopicPartition, start int64) {
	p.owned[tp] = true
	p.started[tp] = start
	p.offsets.Assign(tp, max(start, -1))
}

// runGeneration consumes the partitions gen assigns until genCtx ends (a rebalance), ctx ends
// (shutdown) or StopAtEnd is reached; then it drains and commits while gen is still valid.
func (w *Worker) runGeneration(ctx, genCtx context.Context, gen *kafka.Generation, targets map[TopicPartition]int64) genResult {
	if err := w.batch.Validate(); err != nil {
		return genResult{err: err}
	}
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	p := w.newPipeline(sendCtx, w.genCommitter(gen), targets)
	fetchCtx, stopFetch := context.WithCancel(genCtx)
	defer stopFetch()
	in := make(chan *decodeBatch, queueDepth(w.cfg.DecodeWorkers))
	var fetchers sync.WaitGroup
	fetchErr := make(chan error, 1)
	starts := map[TopicPartition]int64{}
	for topic, parts := range gen.Assignments {
		for _, a := range parts {
			tp := TopicPartition{topic, a.ID}
			p.assign(tp, a.Offset)
			starts[tp] = a.Offset
		}
	}
	p.budget = newBudget(w.cfg.MaxInFlightBytes)
	fetchers.Add(1)
	go func() {
		defer fetchers.Done()
		if err := w.fetchLoop(fetchCtx, starts, p.budget, in); err != nil {
			fetchErr <- err
		}
	}()
	w.ready.Store(true)
	w.log.Info().Int32("generation", gen.ID).Str("member", gen.MemberID).Int("partitions", len(p.owned)).Msg("generation started")
	var dlqWG, lagWG sync.WaitGroup
	dlqWG.Add(1)
	go func() { defer dlqWG.Done(); p.deadLetterLoop() }()
	lagCtx, stopLag := context.WithCancel(genCtx)
	lagWG.Add(1)
	go func() { defer lagWG.Done(); w.reportLag(lagCtx, slices.Collect(maps.Keys(p.owned))) }()
	defer lagWG.Wait()
	defer stopLag()

	var submitWG sync.WaitGroup
	submitWG.Add(1)
	go func() { defer submitWG.Done(); p.submitLoop() }()

	res := p.loop(ctx, genCtx, in, fetchErr)

	// Drain: stop fetching, flush, resolve what is in flight within the deadline, commit.
	stopFetch()
	p.commitBy = time.Now().Add(w.cfg.DrainTimeout)
	res.drainTimedOut = p.drain(ctx, gen, cancelSend)
	p.commit(true)
	cancelSend()
	close(p.toSubmit)
	submitWG.Wait()
	close(p.dlqIn)
	dlqWG.Wait()
	fetchers.Wait()
	w.log.Info().Int32("generation", gen.ID).Bool("drain_timed_out", res.drainTimedOut).Msg("generation ended")
	return res
}

func flushReason(ctx context.Context) batcher.FlushReason {
	if ctx.Err() != nil {
		return batcher.FlushShutdown
	}
	return batcher.FlushRevoke
}

// loop is the pipeline's steady state; it returns when the generation must end.
func (p *pipeline) loop(ctx, genCtx context.Context, in <-chan *decodeBatch, fetchErr <-chan error) genResult {
	w := p.w
	commitTick := time.NewTicker(w.cfg.CommitInterval)
	defer commitTick.Stop()
	// One timer serves every lane: armed for the earliest deadline when a chunk opens and none
	// is armed, re-armed for the next one when it fires. A chunk opened later has a later
	// deadline, so it never needs an earlier timer.
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	armed := false
	// cur is the decode batch being taken, at its item next; its records are taken once the
	// pool has decoded them (decode.go), batches in the order the fetch loop queued them.
	var cur *decodeBatch
	next := 0
	for {
		// Backpressure: stop taking fetched records at either bound, or while a chunk waits
		// for room in the dispatcher (see drain.go).
		var src <-chan *decodeBatch
		var decoded <-chan struct{}
		if !p.full() {
			if cur == nil {
				src = in
			} else {
				decoded = cur.done
			}
		}
		sendq, head := p.handOff()
		select {
		case sendq <- head:
			p.queued = p.queued[1:]
		case <-ctx.Done():
			return genResult{}
		case <-genCtx.Done():
			return genResult{}
		case err := <-fetchErr:
			return genResult{err: err}
		case cur = <-src:
			next = 0
		case <-decoded:
			now := time.Now() // one clock reading for the batch: the lanes' rate window is a second
			for ; next < len(cur.items) && !p.full(); next++ {
				b := p.take(&cur.items[next], now)
				if !armed && b != nil {
					if dl, ok := b.Deadline(); ok {
						linger.Reset(time.Until(dl))
						armed = true
					}
				}
			}
			p.countTaken()
			if next == len(cur.items) {
				cur.release()
				cur = nil
			}
		case now := <-linger.C:
			armed = false
			if next, ok := p.flushAll(batcher.FlushLinger, now); ok {
				linger.Reset(time.Until(next))
				armed = true
			}
		case d := <-p.done:
			p.handleResults(d)
		case refs := <-p.dlqAcks:
			p.resolveRefs(refs)
		case <-commitTick.C:
			p.commit(false)
			if p.targets != nil && p.reachedEnd(ctx) {
				w.log.Info().Msg("stop-at-end: every partition is committed up to its end offset")
				return genResult{finished: true}
			}
		}
	}
}

// full reports whether the pipeline takes no more fetched records for now: at either in-flight
// bound, or while a closed chunk waits for room in the dispatcher.
func (p *pipeline) full() bool {
	return p.recs.len() >= p.w.cfg.MaxInFlightRecords || p.bytes >= p.w.cfg.MaxInFlightBytes || len(p.queued) > 0
}

// take registers a decoded record and sends it on: to its user's lane, which it returns, or to
// the dead-letter topic when it could not be decoded. now is about the time it is taken.
func (p *pipeline) take(f *fetched, now time.Time) *batcher.Batcher {
	w := p.w
	if f.gap {
		if err := p.offsets.Skip(f.tp, f.upTo); err != nil {
			w.log.Error().Err(err).Msg("moving past offsets without records")
		}
		return nil
	}
	if err := p.offsets.Add(f.tp, f.msg.Offset); err != nil {
		w.log.Error().Err(err).Msg("record out of order; skipped without committing past it")
		p.budget.release(f.charge)
		return nil
	}
	ref := p.recs.add(inflight{tp: f.tp, msg: f.msg, insertID: f.insertID, charge: f.charge})
	p.bytes += len(f.msg.Value)
	p.taken++

	ev, err := f.ev, f.err
	if skip, ok := errors.AsType[*profile.Skip](err); ok {
		p.skipped(ref, skip)
		return nil
	}
	if err != nil {
		reason := "invalid_message"
		var perr *profile.Error
		if errors.As(err, &perr) {
			reason = string(perr.Reason)
		}
		p.deadLetter(ref, reason, err.Error(), 0, 0, now, now)
		return nil
	}
	p.recs.get(ref).insertID = ev.InsertID // its bytes were taken from the budget as it was decoded
	b := p.lane(ev.DistinctID, len(ev.Body), now)
	chunks, err := b.Add(batcher.Record{Key: ev.DistinctID, Body: ev.Body, Ref: ref})
	if err != nil {
		p.deadLetter(ref, string(profile.ReasonTooLarge), err.Error(), 0, 0, now, now)
		return b
	}
	for _, c := range chunks {
		p.submit(c)
	}
	return b
}

// countTaken tells the statistics and metrics of the records taken since it was last called:
// once per decode batch rather than once per record, which the hot path would feel.
func (p *pipeline) countTaken() {
	if p.taken == 0 {
		return
	}
	n := p.taken
	p.taken = 0
	p.w.stats.add(func(s *Snapshot) { s.Consumed += int64(n) })
	p.w.m.consumed.Add(float64(n))
	p.w.m.inflight.Set(float64(p.recs.len()))
}

// skipped resolves a record that carries nothing to send (a tombstone, a Segment track call):
// it is committed past, counted by reason, never sent nor dead-lettered.
func (p *pipeline) skipped(ref uint64, s *profile.Skip) {
	p.w.stats.add(func(sn *Snapshot) { sn.Skipped++ })
	p.w.m.skipped.WithLabelValues(s.Reason).Inc()
	p.resolveRefs([]uint64{ref})
}

// flushAll closes the open chunks whose deadline is not after now (every open chunk when now
// is zero) and returns the earliest deadline left, if any.
func (p *pipeline) flushAll(reason batcher.FlushReason, now time.Time) (next time.Time, ok bool) {
	for _, b := range p.lanes {
		dl, open := b.Deadline()
		if !open {
			continue
		}
		if now.IsZero() || !dl.After(now) {
			if c, closed := b.Flush(reason); closed {
				p.submit(c)
			}
			continue
		}
		if !ok || dl.Before(next) {
			next, ok = dl, true
		}
	}
	return next, ok
}

// maxLanes bounds the chunks open at once (WithSendSlots lowers it); rateWindow is how often
// the width is reconsidered.
const (
	maxLanes   = 8
	rateWindow = time.Second
)

// lane returns the lane of a record of user key with n body bytes, resizing first when a rate
// window has passed by now or records wait on the API.
func (p *pipeline) lane(key string, n int, now time.Time) *batcher.Batcher {
	p.windowRecs++
	p.windowSize += n
	if p.unresolved > len(p.lanes) {
		p.pressed = true
	}
	// Records waiting on the API widen at once: a backlog must not wait a window for parallel
	// chunks. Everything else waits for the end of the window.
	if now.Sub(p.window) >= rateWindow || (p.pressed && p.width < len(p.lanes)) {
		p.resize(now)
	}
	if p.width == 1 {
		return p.lanes[0]
	}
	return p.lanes[fnv32a(key)%uint32(p.width)]
}

// fnv32a is hash/fnv's 32-bit FNV-1a of s, without the allocations its hash.Hash costs a record.
func fnv32a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// resize sets the width for the next window: every lane when records waited on the API during
// the window that ends at now (at once when they do; more chunks closed and unresolved than
// there are lanes to send in parallel: the rate seen is what the API took, and parallel
// chunks are what raises it); one lane when the API kept up with one chunk at a time (never
// more than one unresolved: parallel chunks would fill no faster together, each only slower,
// and their records would wait longer for the same requests a second); else the number of
// chunks that fill within one linger at the window's rate (1 to len(p.lanes)). A change closes
// every open chunk first (reason resize), so that no user's records are ever open in two lanes.
func (p *pipeline) resize(now time.Time) {
	cfg := p.w.batch
	perLinger := float64(cfg.Linger) / float64(max(now.Sub(p.window), time.Millisecond))
	full := max(float64(p.windowRecs)*perLinger/float64(cfg.MaxRecords), float64(p.windowSize)*perLinger/float64(cfg.MaxBytes))
	want := min(max(int(full), 1), len(p.lanes))
	switch {
	case p.pressed:
		want = len(p.lanes)
	case p.windowPeak <= 1:
		want = 1
	}
	p.window, p.windowRecs, p.windowSize, p.pressed, p.windowPeak = now, 0, 0, false, p.unresolved
	if want == p.width {
		return
	}
	p.flushAll(batcher.FlushResize, time.Time{})
	p.width = want
}

// handleResults resolves delivered records and dead-letters failed ones.
func (p *pipeline) handleResults(d chunkDone) {
	p.unresolved--
	var delivered []uint64
	for i, r := range d.results {
		ref := d.chunk.Records[i].Ref
		switch r.Outcome {
		case sender.Delivered:
			delivered = append(delivered, ref)
		case sender.Failed:
			msg := ""
			if r.Err != nil {
				msg = r.Err.Error()
			}
			p.deadLetter(ref, r.Reason, msg, r.Status, r.Attempts, r.FirstFailure, r.LastFailure)
		case sender.Abandoned:
			// Left unresolved: not committed, read again by whoever owns the partition next.
		}
	}
	p.w.stats.add(func(s *Snapshot) { s.Delivered += int64(len(delivered)) })
	p.w.m.delivered.Add(float64(len(delivered)))
	p.resolveRefs(delivered)
}

// deadLetter queues a record for the dead-letter topic; it resolves when the write is acknowledged.
func (p *pipeline) deadLetter(ref uint64, reason, errText string, status, attempts int, first, last time.Time) {
	rec := p.recs.get(ref)
	p.dlqIn <- dlq.Record{
		Key: rec.msg.Key, Value: rec.msg.Value, Headers: rec.msg.Headers,
		Origin: dlq.Origin{Topic: rec.tp.Topic, Partition: rec.tp.Partition, Offset: rec.msg.Offset, Timestamp: rec.msg.Time},
		Reason: reason, Err: errText, Status: status, Attempts: attempts, FirstFailure: first, LastFailure: last,
		InsertID: rec.insertID,
	}
	p.dlqRefs <- ref
}

// deadLetterLoop writes queued dead letters in batches and acknowledges them to the pipeline.
// A write is retried until it succeeds or the drain deadline passes.
func (p *pipeline) deadLetterLoop() {
	sampler := newLogSampler(deadLetterLogLimit, deadLetterLogWindow)
	for {
		rec, ok := <-p.dlqIn
		if !ok {
			p.logSuppressed(sampler.reset(time.Now()))
			return
		}
		batch := []dlq.Record{rec}
		refs := []uint64{<-p.dlqRefs}
	more:
		for len(batch) < 500 {
			select {
			case r, ok := <-p.dlqIn:
				if !ok {
					break more
				}
				batch = append(batch, r)
				refs = append(refs, <-p.dlqRefs)
			default:
				break more
			}
		}
		if err := p.w.dead.Write(p.sendCtx, batch...); err != nil {
			p.w.log.Error().Err(err).Int("records", len(batch)).Msg("dead letters not written; their offsets stay uncommitted")
			continue
		}
		now := time.Now()
		for _, r := range batch {
			p.w.stats.add(func(s *Snapshot) { s.DeadLettered[r.Reason]++ })
			ok, last := sampler.allow(r.Reason, now)
			p.logSuppressed(last)
			if !ok {
				continue
			}
			p.w.log.Warn().Str("topic", r.Origin.Topic).Int("partition", r.Origin.Partition).
				Int64("offset", r.Origin.Offset).Str("reason", r.Reason).Int("status", r.Status).
				Str("error", truncate(r.Err, 200)).Msg("record dead-lettered")
		}
		p.dlqAcks <- refs
	}
}

// logSuppressed says how many dead letters were not logged one by one, per reason.
func (p *pipeline) logSuppressed(counts map[string]int) {
	for reason, n := range counts {
		p.w.log.Warn().Str("reason", reason).Int("records", n).Int("limit", deadLetterLogLimit).Dur("window", deadLetterLogWindow).
			Msg("more records dead-lettered with this reason were not logged one by one; profile_ingest_dlq_records_total and `dlq inspect` count them")
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// resolveRefs marks records resolved and forgets them.
func (p *pipeline) resolveRefs(refs []uint64) {
	for _, ref := range refs {
		rec := p.recs.get(ref)
		if rec == nil {
			continue
		}
		if err := p.offsets.Resolve(rec.tp, rec.msg.Offset); err != nil {
			p.w.log.Error().Err(err).Msg("resolving an offset")
		}
		p.bytes -= len(rec.msg.Value)
		p.budget.release(rec.charge)
		p.recs.remove(ref)
	}
	p.w.m.inflight.Set(float64(p.recs.len()))
}

// commit commits what moved. A periodic commit is tried once (the next tick tries again); a
// final one is retried with backoff until p.commitBy (finalCommitFloor at least), each try on a
// fresh coordinator connection once the generation's has failed. A failure is logged and
// counted, never ignored: the offsets stay to commit.
func (p *pipeline) commit(final bool) {
	offsets := p.offsets.Committable()
	if offsets == nil {
		return
	}
	ctx := context.Background()
	var policy backoff.BackOff = &backoff.StopBackOff{}
	if final {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, later(p.commitBy, time.Now().Add(finalCommitFloor)))
		defer cancel()
		policy = backoff.WithContext(commitBackoff(), ctx)
	}
	try := 0
	err := backoff.RetryNotify(func() error {
		try++
		err := p.commitOffsets(ctx, offsets)
		if err != nil && !commitRetryable(err) {
			return backoff.Permanent(err)
		}
		return err
	}, policy, func(err error, next time.Duration) {
		p.w.m.commitFailures.Inc()
		p.w.log.Warn().Err(err).Int("try", try).Bool("final", final).Dur("retry_in", next).Msg("offset commit failed; retrying")
	})
	if err != nil {
		p.w.m.commitFailures.Inc()
		p.w.log.Warn().Err(err).Int("try", try).Bool("final", final).Msg("offset commit failed")
		return
	}
	p.offsets.Committed(offsets)
	p.w.m.commits.Inc()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// reachedEnd reports whether every target partition is committed up to its end offset.
func (p *pipeline) reachedEnd(ctx context.Context) bool {
	if p.recs.len() > 0 || p.offsets.Committable() != nil {
		return false
	}
	for tp, end := range p.targets {
		if !p.owned[tp] || end <= 0 {
			continue
		}
		next := p.offsets.Next(tp)
		if next < 0 && p.started[tp] == kafka.LastOffset {
			continue // started at the end, nothing arrived
		}
		if next < end {
			return false
		}
	}
	ok, err := p.w.groupReached(ctx, p.targets, p.owned)
	if err != nil {
		p.w.log.Warn().Err(err).Msg("stop-at-end: reading the group's offsets failed")
	}
	return ok
}

func (s *stats) add(f func(*Snapshot)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.s)
}
