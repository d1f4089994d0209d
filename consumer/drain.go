package consumer

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/profile-ingest/profile-ingest/batcher"
	"github.com/profile-ingest/profile-ingest/sender"
)

// The pipeline goroutine never blocks on the API. Dispatcher.Submit blocks while the dispatcher
// holds as many unresolved chunks as it takes, which lasts as long as the API refuses them (an
// auth outage, 5xx): a pipeline waiting there would watch neither shutdown, nor the end of its
// generation, nor the commit ticker. So closed chunks wait in pipeline.queued, oldest first,
// and submitLoop, a goroutine of the generation, submits them one by one while the pipeline
// keeps selecting: it hands the oldest over whenever submitLoop is ready to take it. While a
// chunk is queued the pipeline takes no fetched record (as it took none while it blocked in
// Submit), so what a drain must resolve stays what the dispatcher holds, plus a chunk per
// partition at most, not everything up to consumer.max_in_flight_records.

// submit queues a closed chunk for submitLoop; its results come back on p.done.
func (p *pipeline) submit(c batcher.Chunk) {
	p.w.m.chunks.WithLabelValues(string(c.Reason)).Inc()
	p.unresolved++
	p.windowPeak = max(p.windowPeak, p.unresolved)
	p.queued = append(p.queued, c)
}

// handOff returns the channel to hand the oldest queued chunk over on, and that chunk: a nil
// channel, which never takes, when none is queued.
func (p *pipeline) handOff() (chan<- batcher.Chunk, batcher.Chunk) {
	if len(p.queued) == 0 {
		return nil, batcher.Chunk{}
	}
	return p.toSubmit, p.queued[0]
}

// submitLoop submits the chunks handed over on p.toSubmit, in order, until it is closed.
// Submit ends at the drain deadline (p.sendCtx), when a chunk waiting for room is given up.
func (p *pipeline) submitLoop() {
	for c := range p.toSubmit {
		p.dispatch(c)
	}
}

// dispatch submits c to the dispatcher; its results come back on p.done.
func (p *pipeline) dispatch(c batcher.Chunk) {
	err := p.w.dispatch.Submit(p.sendCtx, c, func(c batcher.Chunk, rs []sender.Result) {
		p.done <- chunkDone{chunk: c, results: rs}
	})
	if err != nil {
		// Only when the drain deadline passed: the records stay unresolved and uncommitted.
		p.w.log.Warn().Err(err).Int("records", len(c.Records)).Msg("chunk not submitted; its records will be redelivered")
	}
}

// drain runs once the generation must end (shutdown, revoke, error or StopAtEnd): it closes
// the open chunks and resolves what is in flight, committing as it goes, until nothing is left
// or consumer.drain_timeout passes, whatever the API does. Then it cancels the sends
// (cancelSend) and reports that records were abandoned. Throughout, the member heartbeats
// (keepAlive), so a drain longer than kafka.session_timeout does not get it expelled.
func (p *pipeline) drain(ctx context.Context, gen *kafka.Generation, cancelSend context.CancelFunc) (timedOut bool) {
	w := p.w
	deadline := time.NewTimer(w.cfg.DrainTimeout)
	defer deadline.Stop()
	reason := flushReason(ctx)
	p.flushAll(reason, time.Time{})
	if p.recs.len() == 0 {
		return false
	}
	w.log.Info().Str("reason", string(reason)).Int("unresolved", p.recs.len()).Dur("drain_timeout", w.cfg.DrainTimeout).Msg("draining")
	if gen != nil {
		defer w.keepAlive(gen.ID, gen.MemberID)()
	}
	commitTick := time.NewTicker(w.cfg.CommitInterval)
	defer commitTick.Stop()
	for p.recs.len() > 0 {
		sendq, head := p.handOff()
		select {
		case sendq <- head:
			p.queued = p.queued[1:]
		case d := <-p.done:
			p.handleResults(d)
		case refs := <-p.dlqAcks:
			p.resolveRefs(refs)
		case <-commitTick.C:
			p.commit(false)
		case <-deadline.C:
			w.log.Warn().Int("unresolved", p.recs.len()).Dur("drain_timeout", w.cfg.DrainTimeout).
				Msg("drain timed out; unresolved records stay uncommitted and will be redelivered")
			cancelSend()
			w.stats.add(func(s *Snapshot) { s.Abandoned += int64(p.recs.len()) })
			return true
		}
	}
	return false
}

// keepAlive heartbeats for the member of generation id every kafka.heartbeat_interval until the
// returned stop is called. kafka-go's own heartbeat stops at the first error, and the answer
// that ends a generation at a rebalance is one (REBALANCE_IN_PROGRESS): without these, a member
// draining longer than kafka.session_timeout is expelled, its final commit refused, and the
// next owner sends again what it delivered. The coordinator refreshes a member's session on
// every heartbeat, also while it answers REBALANCE_IN_PROGRESS.
func (w *Worker) keepAlive(id int32, member string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(w.cfg.HeartbeatInterval)
		defer tick.Stop()
		var coord *kafka.Client
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if coord == nil {
				var err error
				if coord, err = w.coordinator(ctx); err != nil {
					if ctx.Err() == nil {
						w.log.Warn().Err(err).Str("group", w.cfg.GroupID).Msg("drain heartbeat: finding the group coordinator failed; retrying")
					}
					continue
				}
			}
			res, err := coord.Heartbeat(ctx, &kafka.HeartbeatRequest{GroupID: w.cfg.GroupID, GenerationID: id, MemberID: member})
			if err == nil {
				err = res.Error
			}
			switch {
			case err == nil, errors.Is(err, kafka.RebalanceInProgress):
				// The session is refreshed.
			case ctx.Err() != nil:
				return
			case errors.Is(err, kafka.UnknownMemberId), errors.Is(err, kafka.IllegalGeneration):
				w.log.Warn().Err(err).Str("group", w.cfg.GroupID).Int32("generation", id).
					Msg("the group no longer knows this member: its commits at the end of the drain will be refused")
				return
			default:
				w.log.Warn().Err(err).Str("group", w.cfg.GroupID).Msg("drain heartbeat failed; retrying")
				coord = nil
			}
		}
	}()
	return func() { cancel(); <-done }
}

// coordinator returns a client whose requests go to the group's coordinator: kafka-go routes a
// Heartbeat to its bootstrap broker, which need not be the coordinator.
func (w *Worker) coordinator(ctx context.Context) (*kafka.Client, error) {
	res, err := w.client.FindCoordinator(ctx, &kafka.FindCoordinatorRequest{Key: w.cfg.GroupID, KeyType: kafka.CoordinatorKeyTypeConsumer})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return nil, err
	}
	c := res.Coordinator
	return &kafka.Client{Addr: kafka.TCP(net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))), Transport: w.client.Transport, Timeout: w.client.Timeout}, nil
}
