package consumer

import "time"

// deadLetterLogLimit bounds the dead-letter log lines per reason in each deadLetterLogWindow: a
// flood of poison messages must not flood the logs. The metric
// profile_ingest_dlq_records_total and `dlq inspect` count every one.
const (
	deadLetterLogLimit  = 20
	deadLetterLogWindow = time.Minute
)

// logSampler lets through at most limit lines per key in each window and counts the rest. It is
// used by one goroutine.
type logSampler struct {
	limit      int
	window     time.Duration
	start      time.Time
	logged     map[string]int
	suppressed map[string]int
}

func newLogSampler(limit int, window time.Duration) *logSampler {
	return &logSampler{limit: limit, window: window, logged: map[string]int{}, suppressed: map[string]int{}}
}

// allow reports whether a line for key may be logged at now. When now starts a new window, the
// counts of the lines the last window suppressed are returned (nil when none), for one summary.
func (s *logSampler) allow(key string, now time.Time) (ok bool, last map[string]int) {
	if now.Sub(s.start) >= s.window {
		last = s.reset(now)
	}
	if s.logged[key] < s.limit {
		s.logged[key]++
		return true, last
	}
	s.suppressed[key]++
	return false, last
}

// reset starts a window at now and returns what the last one suppressed (nil when none).
func (s *logSampler) reset(now time.Time) map[string]int {
	var last map[string]int
	if len(s.suppressed) > 0 {
		last = s.suppressed
		s.suppressed = map[string]int{}
	}
	clear(s.logged)
	s.start = now
	return last
}
