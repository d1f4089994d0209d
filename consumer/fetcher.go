package consumer

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/fetch"

	"github.com/profile-ingest/profile-ingest/internal/kafkafetch"
	"github.com/profile-ingest/profile-ingest/profile"
)

// The fetch loop: one goroutine per generation owns the fetch positions of the partitions the
// generation assigns; it sends one fetch request at a time to each broker, for every owned
// partition that broker leads, through a kafka.Transport (the request and its answer are
// internal/kafkafetch's, which reads the answer in place), and hands the records to the
// pipeline in partition order. It replaces one kafka.Reader per partition: the
// bytes fetched and not yet resolved are bounded by one budget (consumer.max_in_flight_bytes),
// the read deadline has headroom over the fetch's MaxWait (budget.go), and transactions are
// read as the Java client reads them (answer.go: aborted records and control markers are never
// delivered). A batch whose tail the log cleaner removed is crossed at its last offset, which
// its header gives, as the Java client crosses it.

const (
	// fetchHeadroom is how late after its MaxWait a fetch answer may arrive before it counts as
	// a timeout: a busy broker or machine answers late, and that is not a reason to reconnect.
	fetchHeadroom = 15 * time.Second
	// recordOverhead is what a fetched record costs beyond its key, value and headers: the
	// message, its in-flight entry, and their bookkeeping.
	recordOverhead = 256
	// fetchBackoffMin and fetchBackoffMax bound the wait before a partition whose fetch failed
	// is fetched again; leaders are looked up again meanwhile.
	fetchBackoffMin = 100 * time.Millisecond
	fetchBackoffMax = 5 * time.Second
	// maxFetchBytes bounds one fetch answer whatever the budget (the protocol's sizes are int32).
	maxFetchBytes = 1 << 30
)

// fetched is one record read from a partition on its way to the pipeline, or, with gap set, the
// news that every offset of tp below upTo that carried no delivered record carries none at all
// (a transaction marker, an aborted record, a compacted or deleted offset, where a partition
// without a commit starts): the committed offset may move past them.
type fetched struct {
	tp     TopicPartition
	msg    kafka.Message
	charge int // bytes taken from the budget for it; given back when it resolves
	gap    bool
	upTo   int64
	// Set by the decode pool (decode.go): the $insert_id the record carries in its headers
	// (a replayed dead letter's), and the decoder's verdict.
	insertID string
	ev       profile.Event
	err      error
}

// partFetch is the fetch state of one owned partition.
type partFetch struct {
	tp       TopicPartition
	pos      int64 // the offset to fetch next
	leader   int   // -1 when unknown
	inflight bool
	retryAt  time.Time
	backoff  time.Duration
	warnedOO bool   // its offset-out-of-range warning was logged
	served   uint64 // the number of the last answer that moved it forward (fetcher.answers)
}

// fetchResult is a fetch request's answer, back in the fetch loop.
type fetchResult struct {
	leader   int
	parts    []*partFetch
	reserved int
	gen      int // the transport it went through
	res      *kafkafetch.Answer
	err      error
}

// fetcher is the state of the fetch loop, owned by its goroutine.
type fetcher struct {
	w       *Worker
	out     chan<- *decodeBatch
	pool    *decodePool
	budget  *budget
	addr    net.Addr
	rt      kafka.RoundTripper
	gen     int
	fresh   time.Time // when rt was made
	stale   bool      // the leaders must be looked up again
	parts   map[TopicPartition]*partFetch
	order   []TopicPartition
	rot     int
	answers uint64       // fetch answers handled
	busy    map[int]bool // brokers with a fetch in flight
	results chan fetchResult
}

// fetchLoop fetches the partitions of starts (a committed offset, or kafka.FirstOffset or
// LastOffset for a partition without a commit; with StartTime set, such a partition seeks by
// time) into out, through its decode pool (decode.go), until ctx ends, taking each record's
// bytes from b. It returns nil when ctx ends, once the pool's goroutines have ended; it does
// not give up on a broker or a partition, it retries them with backoff.
func (w *Worker) fetchLoop(ctx context.Context, starts map[TopicPartition]int64, b *budget, out chan<- *decodeBatch) error {
	pctx, stopPool := context.WithCancel(ctx)
	pool := w.startDecodePool(pctx, b)
	defer pool.stop()
	defer stopPool()
	f := &fetcher{
		w: w, out: out, pool: pool, budget: b, addr: kafka.TCP(w.cfg.Brokers...), parts: map[TopicPartition]*partFetch{},
		busy: map[int]bool{}, results: make(chan fetchResult, len(starts)+1), stale: true,
	}
	for tp, off := range starts {
		f.parts[tp] = &partFetch{tp: tp, pos: off, leader: -1}
		f.order = append(f.order, tp)
	}
	slices.SortFunc(f.order, func(a, b TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	f.rt = f.newTransport()
	defer f.closeTransport(f.rt)
	if !f.seek(ctx) {
		return nil
	}
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		next := f.dispatch(ctx)
		if !next.IsZero() {
			wake.Reset(max(time.Until(next), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case r := <-f.results:
			// The next fetches go out before the pipeline takes this answer's records, so
			// that fetching and processing overlap.
			runs := f.handle(ctx, r)
			if next := f.dispatch(ctx); !next.IsZero() {
				wake.Reset(max(time.Until(next), time.Millisecond))
			}
			if !f.interleave(ctx, runs) {
				return nil
			}
		case <-b.freed:
		case <-wake.C:
		}
	}
}

// newTransport returns a transport with the worker's TLS and SASL settings and fresh metadata.
// Each transport caches the cluster's layout and routes a fetch to the leader it knows, so a
// new one is how the leaders are looked up again.
func (f *fetcher) newTransport() kafka.RoundTripper {
	f.gen++
	f.fresh = time.Now()
	t := &kafka.Transport{DialTimeout: 10 * time.Second, MetadataTopics: f.w.cfg.Topics}
	switch c := f.w.cfg.Transport.(type) {
	case *kafka.Transport:
		t.Dial, t.DialTimeout, t.IdleTimeout, t.ClientID, t.TLS, t.SASL, t.Resolver =
			c.Dial, c.DialTimeout, c.IdleTimeout, c.ClientID, c.TLS, c.SASL, c.Resolver
	case nil:
		if d := f.w.cfg.Dialer; d != nil {
			t.SASL, t.TLS = d.SASLMechanism, d.TLS
			if d.Timeout > 0 {
				t.DialTimeout = d.Timeout
			}
		}
	default:
		return c // a transport of the caller's: its own metadata rules
	}
	return t
}

// clientIDOf is the client id rt's connections give, which fetches made through it give too.
func clientIDOf(rt kafka.RoundTripper) string {
	if t, ok := rt.(*kafka.Transport); ok && t.ClientID != "" {
		return t.ClientID
	}
	return kafka.DefaultClientID
}

func (f *fetcher) closeTransport(rt kafka.RoundTripper) {
	if t, ok := rt.(*kafka.Transport); ok && t != f.w.cfg.Transport {
		t.CloseIdleConnections()
	}
}

// refresh makes the next dispatch look the leaders up again, through a new transport when the
// current one is more than a second old (its cached layout may be what is wrong).
func (f *fetcher) refresh() {
	f.stale = true
	if time.Since(f.fresh) < time.Second {
		return
	}
	old := f.rt
	f.rt = f.newTransport()
	// Fetches still in flight on the old transport finish (or fail) on their own first.
	time.AfterFunc(f.w.cfg.FetchMaxWait+fetchHeadroom, func() { f.closeTransport(old) })
}

// seek resolves the start of every partition without a commit (the log start, the end, or
// the first offset at or after StartTime) and tells the pipeline where each starts. It retries
// until it succeeds and reports false when ctx ended first.
func (f *fetcher) seek(ctx context.Context) bool {
	kinds := map[int64]map[string][]int{}
	for tp, p := range f.parts {
		if p.pos >= 0 {
			continue
		}
		kind := p.pos
		if !f.w.cfg.StartTime.IsZero() {
			kind = f.w.cfg.StartTime.UnixMilli()
		}
		if kinds[kind] == nil {
			kinds[kind] = map[string][]int{}
		}
		kinds[kind][tp.Topic] = append(kinds[kind][tp.Topic], tp.Partition)
	}
	backoff := fetchBackoffMin
	for kind, parts := range kinds {
		for {
			offs, err := f.w.listOffsetsAs(ctx, parts, kind, f.w.cfg.IsolationLevel)
			if err == nil && kind != kafka.FirstOffset && kind != kafka.LastOffset {
				// Seeking by time: a partition without a record at or after it starts at its end.
				late := map[string][]int{}
				for tp, o := range offs {
					if o < 0 {
						late[tp.Topic] = append(late[tp.Topic], tp.Partition)
					}
				}
				var ends map[TopicPartition]int64
				if len(late) > 0 {
					ends, err = f.w.listOffsetsAs(ctx, late, kafka.LastOffset, f.w.cfg.IsolationLevel)
				}
				for tp, o := range ends {
					offs[tp] = o
				}
			}
			if err == nil {
				for tp, o := range offs {
					f.parts[tp].pos = o
					if !f.send(ctx, fetched{tp: tp, gap: true, upTo: o}) {
						return false
					}
				}
				break
			}
			if ctx.Err() != nil {
				return false
			}
			f.w.m.fetchErrors.WithLabelValues("list_offsets").Inc()
			f.w.log.Warn().Err(err).Dur("retry_in", backoff).Msg("finding where the partitions start failed; retrying")
			select {
			case <-ctx.Done():
				return false
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, fetchBackoffMax)
		}
	}
	return true
}

// dispatch sends a fetch to every broker that leads a fetchable partition and has none in
// flight, while the budget has room. It returns when it wants to be called again (a partition's
// backoff ends), or zero.
func (f *fetcher) dispatch(ctx context.Context) time.Time {
	now := time.Now()
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if f.stale && !f.leaders(ctx) {
		later(now.Add(fetchBackoffMin))
	}
	groups := map[int][]*partFetch{}
	leaders := map[int]bool{}
	n := len(f.order)
	for i := range n {
		p := f.parts[f.order[(f.rot+i)%n]]
		if p.leader < 0 {
			continue
		}
		leaders[p.leader] = true
		switch {
		case p.inflight:
		case now.Before(p.retryAt):
			later(p.retryAt)
		default:
			groups[p.leader] = append(groups[p.leader], p)
		}
	}
	if n > 0 {
		f.rot = (f.rot + 1) % n
	}
	for leader, ps := range groups {
		if f.busy[leader] {
			continue
		}
		// The broker fills an answer's partitions in the order asked, up to the fetch's size:
		// those served least recently go first, so that every partition with a backlog gets
		// its turn (the rotation above orders the ties).
		slices.SortStableFunc(ps, func(a, b *partFetch) int { return cmp.Compare(a.served, b.served) })
		used := f.budget.used.Load()
		left := f.budget.limit - used
		// Wait for room rather than ask for crumbs; with nothing held, ask for it all (the
		// broker answers at least one record batch, however large).
		if used > 0 && left < min(f.budget.limit/8, 1<<20) {
			return next
		}
		// A quarter of the budget at most: an answer is held twice while its records are
		// copied out of its buffers.
		want := max(min(left, f.budget.limit/int64(len(leaders)), max(f.budget.limit/4, 1<<20), maxFetchBytes), 1)
		f.start(ctx, leader, ps, int(want))
	}
	return next
}

// leaders looks up the leader of every owned partition in the transport's metadata.
func (f *fetcher) leaders(ctx context.Context) bool {
	mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	md, err := (&kafka.Client{Addr: f.addr, Transport: f.rt}).Metadata(mctx, &kafka.MetadataRequest{Topics: f.w.cfg.Topics})
	if err != nil {
		if ctx.Err() == nil {
			f.w.m.fetchErrors.WithLabelValues(reasonOf(err)).Inc()
			f.w.log.Warn().Err(err).Msg("looking up partition leaders failed; retrying")
			f.refresh()
		}
		return false
	}
	for _, t := range md.Topics {
		for _, mp := range t.Partitions {
			if p := f.parts[TopicPartition{t.Name, mp.ID}]; p != nil {
				p.leader = -1
				if mp.Error == nil && mp.Leader.Host != "" {
					p.leader = mp.Leader.ID
				}
			}
		}
	}
	f.stale = false
	for _, p := range f.parts {
		if p.leader < 0 {
			f.stale = true // retried at the next dispatch
		}
	}
	return !f.stale
}

// start sends one fetch for ps to their leader, asking for at most maxBytes in all.
func (f *fetcher) start(ctx context.Context, leader int, ps []*partFetch, maxBytes int) {
	// Every partition may answer up to FetchMaxBytes: the request's MaxBytes bounds the answer
	// as a whole. A partition's share of it would be no bound worth having: the broker cuts a
	// record batch larger than the partition's limit, and a cut batch is thrown away, so with
	// producer batches larger than the share only the answer's first partition (whose first
	// batch the broker sends whole) would progress, a fetch at a time.
	per := int32(min(maxBytes, f.w.cfg.FetchMaxBytes))
	req := &kafkafetch.Request{
		MaxWait: f.w.cfg.FetchMaxWait, MinBytes: 1, MaxBytes: int32(maxBytes),
		IsolationLevel: int8(f.w.cfg.IsolationLevel), ClientID: clientIDOf(f.rt),
	}
	at := map[string]int{}
	for _, p := range ps {
		i, ok := at[p.tp.Topic]
		if !ok {
			i = len(req.Topics)
			at[p.tp.Topic] = i
			req.Topics = append(req.Topics, kafkafetch.Topic{Topic: p.tp.Topic})
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, kafkafetch.Partition{
			Partition: int32(p.tp.Partition), Offset: p.pos, MaxBytes: per,
		})
		p.inflight = true
	}
	f.busy[leader] = true
	f.budget.take(maxBytes)
	rt, gen := f.rt, f.gen
	go func() {
		// The deadline, not the broker's MaxWait, decides when an answer is late.
		rctx, cancel := context.WithTimeout(ctx, f.w.cfg.FetchMaxWait+fetchHeadroom)
		defer cancel()
		r := fetchResult{leader: leader, parts: ps, reserved: maxBytes, gen: gen}
		var res kafka.Response
		if res, r.err = rt.RoundTrip(rctx, f.addr, req); r.err == nil {
			var ok bool
			if r.res, ok = res.(*kafkafetch.Answer); !ok {
				r.err = errors.New("consumer: fetch: unexpected answer type")
			}
		}
		f.results <- r
	}()
}

// handle takes a fetch's answer: it copies out the records of each partition (the runs of
// decode batches to hand to the pipeline), moves the positions, and backs off and looks the
// leaders up again for what failed.
func (f *fetcher) handle(ctx context.Context, r fetchResult) (runs [][]*decodeBatch) {
	f.busy[r.leader] = false
	f.answers++
	for _, p := range r.parts {
		p.inflight = false
	}
	defer f.budget.release(r.reserved)
	if r.res != nil {
		defer r.res.Release() // every record was copied out
	}
	if r.err == nil && r.res.ErrorCode != 0 {
		r.err = kafka.Error(r.res.ErrorCode)
	}
	if r.err != nil {
		if ctx.Err() != nil {
			return nil
		}
		reason := reasonOf(r.err)
		f.w.m.fetchErrors.WithLabelValues(reason).Inc()
		first := true
		for _, p := range r.parts {
			first = first && p.backoff == 0
			f.backOff(p)
		}
		ev := f.w.log.Debug()
		if first {
			ev = f.w.log.Warn()
		}
		ev.Err(r.err).Int("broker", r.leader).Str("reason", reason).Int("partitions", len(r.parts)).
			Msg("fetch failed; retrying with backoff after looking the leaders up again")
		if r.gen == f.gen {
			f.refresh()
		}
		return nil
	}
	f.w.m.fetches.Inc()
	asked := map[TopicPartition]*partFetch{}
	for _, p := range r.parts {
		asked[p.tp] = p
	}
	for i := range r.res.Topics {
		t := &r.res.Topics[i]
		for j := range t.Partitions {
			rp := &t.Partitions[j]
			p := asked[TopicPartition{t.Topic, int(rp.Partition)}]
			if p == nil {
				continue
			}
			if rp.ErrorCode != 0 {
				f.partitionError(ctx, p, kafka.Error(rp.ErrorCode))
				continue
			}
			at := p.pos
			bs, err := f.records(p, rp)
			if len(bs) > 0 {
				runs = append(runs, bs)
			}
			if err != nil {
				f.corrupt(p, err)
			} else {
				p.backoff = 0
			}
			if p.pos != at {
				p.served = f.answers
			}
		}
	}
	return runs
}

// interleave queues the items of every partition of an answer for decoding and the pipeline,
// in decode batches, taking turns between partitions (each partition's own order kept), so
// that the pool's goroutines share the answer and every partition progresses. It reports
// false when ctx ended.
func (f *fetcher) interleave(ctx context.Context, runs [][]*decodeBatch) bool {
	for len(runs) > 0 {
		live := runs[:0]
		for _, bs := range runs {
			if !f.queue(ctx, bs[0]) {
				return false
			}
			if len(bs) > 1 {
				live = append(live, bs[1:])
			}
		}
		runs = live
	}
	return true
}

// backOff delays the next fetch of p.
func (f *fetcher) backOff(p *partFetch) {
	p.backoff = min(max(2*p.backoff, fetchBackoffMin), fetchBackoffMax)
	p.retryAt = time.Now().Add(p.backoff)
}

// partitionError handles a partition's error in a fetch answer.
func (f *fetcher) partitionError(ctx context.Context, p *partFetch, err kafka.Error) {
	reason := reasonOf(err)
	f.w.m.fetchErrors.WithLabelValues(reason).Inc()
	if errors.Is(err, kafka.OffsetOutOfRange) {
		f.outOfRange(ctx, p)
		return
	}
	ev := f.w.log.Debug()
	if p.backoff == 0 {
		ev = f.w.log.Warn()
	}
	f.backOff(p)
	ev.Err(err).Str("topic", p.tp.Topic).Int("partition", p.tp.Partition).Str("reason", reason).
		Msg("fetching a partition failed; retrying with backoff after looking its leader up again")
	f.refresh()
}

// outOfRange moves p to the log start when its position was deleted (retention), or to the end
// when it is past it, says so once, and lets the pipeline commit past what is gone.
func (f *fetcher) outOfRange(ctx context.Context, p *partFetch) {
	parts := map[string][]int{p.tp.Topic: {p.tp.Partition}}
	first, err := f.w.listOffsetsAs(ctx, parts, kafka.FirstOffset, f.w.cfg.IsolationLevel)
	var last map[TopicPartition]int64
	if err == nil {
		last, err = f.w.listOffsetsAs(ctx, parts, kafka.LastOffset, f.w.cfg.IsolationLevel)
	}
	if err != nil {
		f.backOff(p)
		return
	}
	from, start, end := p.pos, first[p.tp], last[p.tp]
	switch {
	case p.pos < start:
		p.pos = start
	case p.pos > end:
		p.pos = end
	default:
		return // moved back into range meanwhile: fetch again
	}
	if !p.warnedOO {
		p.warnedOO = true
		f.w.log.Warn().Str("topic", p.tp.Topic).Int("partition", p.tp.Partition).Int64("offset", from).
			Int64("log_start_offset", start).Int64("log_end_offset", end).Int64("resume_at", p.pos).
			Msg("the partition's position is not on the broker any more (retention deleted it); resuming where its log is")
	}
	f.send(ctx, fetched{tp: p.tp, gap: true, upTo: p.pos})
}

// send hands a gap item to the pipeline, after what was queued before; false when ctx ended
// first.
func (f *fetcher) send(ctx context.Context, it fetched) bool {
	return f.queue(ctx, &decodeBatch{items: []fetched{it}, done: closedDone})
}

// queue hands b to the pipeline, which takes batches in this order, and, unless it is done
// already, to the decode pool; false when ctx ended first.
func (f *fetcher) queue(ctx context.Context, b *decodeBatch) bool {
	select {
	case f.out <- b:
	case <-ctx.Done():
		return false
	}
	if b.done == closedDone {
		return true
	}
	select {
	case f.pool.work <- b:
		return true
	case <-ctx.Done():
		return false
	}
}

// reasonOf names a fetch error for profile_ingest_fetch_errors_total.
func reasonOf(err error) string {
	var kerr kafka.Error
	var nerr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()):
		return "timeout"
	case errors.As(err, &kerr):
		switch kerr {
		case kafka.NotLeaderForPartition, kafka.LeaderNotAvailable, kafka.FencedLeaderEpoch, kafka.UnknownLeaderEpoch:
			return "not_leader"
		case kafka.UnknownTopicOrPartition:
			return "unknown_topic_or_partition"
		case kafka.OffsetOutOfRange:
			return "offset_out_of_range"
		}
		return "broker_error"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &nerr) || errors.Is(err, net.ErrClosed):
		return "connection"
	}
	var ferr *fetch.Error
	if errors.As(err, &ferr) {
		return "no_leader"
	}
	return "other"
}
