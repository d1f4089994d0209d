package hubsim

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Stats are the Server's counts since it started or was last reset.
type Stats struct {
	Requests      int64 `json:"requests"`          // POST /event/ requests received
	Accepted      int64 `json:"accepted_requests"` // answered 202
	EventsApplied int64 `json:"events_applied"`    // events applied to profiles
	Duplicates    int64 `json:"duplicates"`        // accepted events skipped: $insert_id already applied
	// LostResponses counts requests applied and then closed without an answer
	// (Faults.LostResponseRate); they are not in Accepted.
	LostResponses int64 `json:"lost_responses"`
	// Rejections counts refused requests by cause: auth_header, auth_key, auth_date,
	// auth_signature, body_too_large, bad_json, too_many_events, event_too_large,
	// invalid_event, refused_distinct_id, fault_status, fault_throttle, fault_drop,
	// fault_auth_outage. A request with several invalid events counts under its first.
	Rejections map[string]int64 `json:"rejections"`
	Profiles   int              `json:"profiles"`
	// Connections counts the TCP connections clients opened: a client that keeps its
	// connections opens as many as it sends requests at once.
	Connections int64 `json:"connections"`
}

type stats struct {
	requests, accepted, applied, duplicates, lostResponses, conns atomic.Int64

	mu         sync.Mutex
	rejections map[string]int64
}

func (st *stats) reset() {
	st.requests.Store(0)
	st.accepted.Store(0)
	st.applied.Store(0)
	st.duplicates.Store(0)
	st.lostResponses.Store(0)
	st.conns.Store(0)
	st.mu.Lock()
	st.rejections = map[string]int64{}
	st.mu.Unlock()
}

func (st *stats) reject(cause string) {
	st.mu.Lock()
	st.rejections[cause]++
	st.mu.Unlock()
}

// Stats returns the current counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.store.profiles)
	s.mu.Unlock()
	s.stats.mu.Lock()
	rej := maps.Clone(s.stats.rejections)
	s.stats.mu.Unlock()
	return Stats{Requests: s.stats.requests.Load(), Accepted: s.stats.accepted.Load(),
		EventsApplied: s.stats.applied.Load(), Duplicates: s.stats.duplicates.Load(),
		LostResponses: s.stats.lostResponses.Load(), Rejections: rej, Profiles: n,
		Connections: s.stats.conns.Load()}
}
