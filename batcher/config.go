package batcher

import (
	"fmt"
	"time"
)

// Platform limits of SuprSend's bulk event API (wire protocol (e)); a Config may be stricter.
const (
	// LimitRecords is the most identity events one bulk request may carry.
	LimitRecords = 400
	// LimitBytes is the most bytes one bulk request body may have, brackets and commas included.
	LimitBytes = 819200
)

// Config sets when a chunk closes. The zero value is not valid; start from Default().
type Config struct {
	// MaxRecords closes a chunk once it holds this many records (reason count).
	// Default: 400. Must be 1..400.
	MaxRecords int
	// MaxBytes bounds the chunk body, "[" + bodies joined by "," + "]". A record that would
	// take the body past it closes the open chunk first (reason bytes).
	// Default: 819200. Must be 3..819200.
	MaxBytes int
	// Linger is how long the first record of a chunk may wait for company before the owner
	// should flush it (reason linger); see Batcher.Deadline. Default: 100ms. Must be >= 0.
	Linger time.Duration
}

// Default returns the configuration matching the platform limits with a 100ms linger.
func Default() Config {
	return Config{MaxRecords: LimitRecords, MaxBytes: LimitBytes, Linger: 100 * time.Millisecond}
}

// Validate reports the first field whose value is out of range.
func (c Config) Validate() error {
	switch {
	case c.MaxRecords < 1 || c.MaxRecords > LimitRecords:
		return fmt.Errorf("batcher: MaxRecords %d out of range 1..%d", c.MaxRecords, LimitRecords)
	case c.MaxBytes < 3 || c.MaxBytes > LimitBytes:
		return fmt.Errorf("batcher: MaxBytes %d out of range 3..%d", c.MaxBytes, LimitBytes)
	case c.Linger < 0:
		return fmt.Errorf("batcher: Linger %s must not be negative", c.Linger)
	}
	return nil
}
