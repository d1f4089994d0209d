package consumer

import (
	"sync/atomic"

	"github.com/segmentio/kafka-go"
)

// budget counts the bytes fetched and not yet resolved against consumer.max_in_flight_bytes:
// the fetch loop takes, the pipeline gives back. Its methods are safe for concurrent use and do
// nothing on a nil budget.
type budget struct {
	limit int64
	used  atomic.Int64
	freed chan struct{} // a wake-up for the fetch loop, capacity 1
}

func newBudget(limit int) *budget {
	return &budget{limit: int64(limit), freed: make(chan struct{}, 1)}
}

func (b *budget) take(n int) {
	if b != nil {
		b.used.Add(int64(n))
	}
}

func (b *budget) release(n int) {
	if b == nil || n == 0 {
		return
	}
	b.used.Add(-int64(n))
	select {
	case b.freed <- struct{}{}:
	default:
	}
}

// chargeOf is what a fetched record costs the budget.
func chargeOf(m *kafka.Message) int {
	n := len(m.Key) + len(m.Value) + recordOverhead
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}
