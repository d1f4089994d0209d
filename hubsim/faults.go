package hubsim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Faults are the failures the Server injects; the zero value injects none. Rates are shares of
// requests in [0,1]. With a non-zero Seed the draws are deterministic: the same sequence of
// requests meets the same faults.
type Faults struct {
	// ErrorRate of requests are answered ErrorStatus.
	ErrorRate float64 `json:"error_rate,omitempty"`
	// ErrorStatus is the status of ErrorRate answers. Default: 503. Must be 5xx.
	ErrorStatus int `json:"error_status,omitempty"`
	// ThrottleRate of requests are answered 429 with a Retry-After of RetryAfter.
	ThrottleRate float64 `json:"throttle_rate,omitempty"`
	// RetryAfter is sent, in whole seconds rounded up, with injected 429s and 503s. Default: 1s.
	RetryAfter Duration `json:"retry_after,omitempty"`
	// Latency is added to every request; LatencyJitter adds a random extra of up to itself.
	Latency       Duration `json:"latency,omitempty"`
	LatencyJitter Duration `json:"latency_jitter,omitempty"`
	// DropRate of requests have their connection closed without an answer.
	DropRate float64 `json:"drop_rate,omitempty"`
	// LostResponseRate of valid requests are applied, then have their connection closed
	// without an answer: the API did the work but the client never hears it, and resends.
	LostResponseRate float64 `json:"lost_response_rate,omitempty"`
	// RejectDistinctID is a regexp; events whose distinct_id matches are invalid (400), with
	// RejectMessage (default "distinct_id refused by fault injection").
	RejectDistinctID string `json:"reject_distinct_id,omitempty"`
	RejectMessage    string `json:"reject_message,omitempty"`
	// AuthOutage answers 401 to every event request.
	AuthOutage bool `json:"auth_outage,omitempty"`
	// Seed makes the random draws deterministic; 0 seeds from the clock.
	Seed uint64 `json:"seed,omitempty"`
}

// Validate reports the first field whose value is out of range.
func (f Faults) Validate() error {
	for name, r := range map[string]float64{"ErrorRate": f.ErrorRate, "ThrottleRate": f.ThrottleRate, "DropRate": f.DropRate,
		"LostResponseRate": f.LostResponseRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("hubsim: Faults.%s %g out of range [0,1]", name, r)
		}
	}
	if f.ErrorStatus != 0 && (f.ErrorStatus < 500 || f.ErrorStatus > 599) {
		return fmt.Errorf("hubsim: Faults.ErrorStatus %d must be 5xx", f.ErrorStatus)
	}
	if f.RetryAfter < 0 || f.Latency < 0 || f.LatencyJitter < 0 {
		return fmt.Errorf("hubsim: Faults durations must not be negative")
	}
	if _, err := regexp.Compile(f.RejectDistinctID); err != nil {
		return fmt.Errorf("hubsim: Faults.RejectDistinctID %q: %w", f.RejectDistinctID, err)
	}
	return nil
}

// faultState is the compiled form of Faults with its random source.
type faultState struct {
	f      Faults
	reject *regexp.Regexp // nil when none
	rng    *rand.Rand
}

func compileFaults(f Faults) (*faultState, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if f.ErrorStatus == 0 {
		f.ErrorStatus = 503
	}
	if f.RetryAfter == 0 {
		f.RetryAfter = Duration(time.Second)
	}
	if f.RejectMessage == "" {
		f.RejectMessage = "distinct_id refused by fault injection"
	}
	st := &faultState{f: f}
	if f.RejectDistinctID != "" {
		st.reject = regexp.MustCompile(f.RejectDistinctID)
	}
	seed := f.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	st.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return st, nil
}

// draw is the faults one request meets. Every request consumes the same number of random
// values, so a seed gives the same faults to the same sequence of requests.
type draw struct {
	drop, fail, throttle, lost bool
	delay                      time.Duration
}

// next draws a request's faults; the caller holds the Server's fault lock.
func (st *faultState) next() draw {
	a, b, c, d, e := st.rng.Float64(), st.rng.Float64(), st.rng.Float64(), st.rng.Float64(), st.rng.Float64()
	dr := draw{drop: a < st.f.DropRate, fail: b < st.f.ErrorRate, throttle: c < st.f.ThrottleRate,
		lost: e < st.f.LostResponseRate, delay: time.Duration(st.f.Latency)}
	if st.f.LatencyJitter > 0 {
		dr.delay += time.Duration(d * float64(st.f.LatencyJitter))
	}
	return dr
}

func (st *faultState) retryAfterSeconds() string {
	secs := (time.Duration(st.f.RetryAfter) + time.Second - 1) / time.Second
	return strconv.Itoa(int(secs))
}

// Duration is a time.Duration written in JSON as a Go duration string ("250ms"); a JSON number
// is read as seconds.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		v, err := time.ParseDuration(str)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	secs, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("hubsim: duration %s: want a string like \"250ms\" or seconds", s)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}
