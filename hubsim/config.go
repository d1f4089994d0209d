package hubsim

import (
	"fmt"
	"time"
)

// Platform limits (wire protocol (e)).
const (
	MaxBodyBytes  = 819200 // a larger request body is answered 413
	MaxEventBytes = 10240  // a larger event is answered 400
	MaxEvents     = 400    // an array with more events is answered 400
)

// Config configures a Server. Start from Default() and set Key and Secret.
type Config struct {
	// Key is the workspace key requests must be signed with and events must carry in env.
	// Required.
	Key string
	// Secret is the workspace secret that signs requests. Required; never logged.
	Secret string
	// MaxSkew is how far a request's Date may be from the server clock. Default: 15m.
	MaxSkew time.Duration
	// AcceptAnyDate skips the Date check (the signature still covers the Date), for replaying
	// captured requests. Default: false.
	AcceptAnyDate bool
	// KeepInsertIDs is how many of the latest applied $insert_ids each profile keeps, in order,
	// for tests of per-user order. 0 keeps none (the per-profile counter and last id are
	// always kept). Default: 0.
	KeepInsertIDs int
	// DedupWindow is how many of the latest applied $insert_ids are remembered to skip
	// duplicates. Default: 1048576. Must be >= 1.
	DedupWindow int
	// Faults are the faults injected from the start. Default: none.
	Faults Faults
	// AcceptAll answers 202 to every event request once its body is read, without checking
	// the signature or the events and without applying them: the cheapest sink, for the
	// benchmark's raw-speed ratio. Requests are still counted; faults do not apply. Default:
	// false.
	AcceptAll bool
	// RecordLatency records every event's end-to-end latency, its arrival minus its "$time",
	// read at GET /_sim/latency (see Latency), with or without AcceptAll. Default: false.
	RecordLatency bool
}

// Default returns a configuration without credentials.
func Default() Config {
	return Config{MaxSkew: 15 * time.Minute, DedupWindow: 1 << 20}
}

// Validate reports the first field whose value is out of range.
func (c Config) Validate() error {
	switch {
	case c.Key == "":
		return fmt.Errorf("hubsim: Key is empty")
	case c.Secret == "":
		return fmt.Errorf("hubsim: Secret is empty")
	case c.MaxSkew <= 0:
		return fmt.Errorf("hubsim: MaxSkew %s must be positive", c.MaxSkew)
	case c.KeepInsertIDs < 0:
		return fmt.Errorf("hubsim: KeepInsertIDs %d must not be negative", c.KeepInsertIDs)
	case c.DedupWindow < 1:
		return fmt.Errorf("hubsim: DedupWindow %d must be >= 1", c.DedupWindow)
	}
	return c.Faults.Validate()
}
