package sender

import (
	"fmt"
	"time"
)

// Config sets the Sender's retry policy and limits. Start from Default().
type Config struct {
	// InitialInterval is the first computed wait before a retry. Default: 200ms.
	InitialInterval time.Duration
	// Multiplier grows the wait after each retry. Default: 2. Must be >= 1.
	Multiplier float64
	// RandomizationFactor jitters each wait by ± this share. Default: 0.5. Must be in [0,1).
	RandomizationFactor float64
	// MaxInterval caps one computed wait. Default: 10s.
	MaxInterval time.Duration
	// MaxElapsedTime is the total retry budget of one chunk, shared by the parts a split makes
	// of it (each part is still tried at least once); once spent, the records still failing
	// fail with retries_exhausted. A Retry-After longer than the remaining budget is cut to it.
	// Time spent waiting for credentials to work again does not count: when they work again,
	// the budget starts afresh. Default: 2m.
	MaxElapsedTime time.Duration
	// AuthMaxInterval caps the wait between attempts while the API answers 401/403; those
	// retries go on until the context ends. Default: 30s.
	AuthMaxInterval time.Duration
	// RequestTimeout bounds one HTTP attempt, including reading the response. Default: 30s.
	RequestTimeout time.Duration
	// MaxErrorBody is how much of an error response body is kept in errors. Default: 512.
	MaxErrorBody int
	// MaxInFlight is the number of chunks a Dispatcher sends at once when NewDispatcher is
	// given maxInFlight <= 0. Default: 4.
	MaxInFlight int
	// MaxRequestsPerSecond paces HTTP attempts, retries included, across every chunk of the
	// Sender, so that a backfill of millions of records stays under the workspace's rate limit
	// instead of meeting 429s. 0: no limit. Default: 0.
	MaxRequestsPerSecond float64
}

// Default returns the documented defaults.
func Default() Config {
	return Config{
		InitialInterval:     200 * time.Millisecond,
		Multiplier:          2,
		RandomizationFactor: 0.5,
		MaxInterval:         10 * time.Second,
		MaxElapsedTime:      2 * time.Minute,
		AuthMaxInterval:     30 * time.Second,
		RequestTimeout:      30 * time.Second,
		MaxErrorBody:        512,
		MaxInFlight:         4,
	}
}

// Validate reports the first field whose value is out of range.
func (c Config) Validate() error {
	switch {
	case c.InitialInterval <= 0:
		return fmt.Errorf("sender: InitialInterval %s must be positive", c.InitialInterval)
	case c.Multiplier < 1:
		return fmt.Errorf("sender: Multiplier %g must be >= 1", c.Multiplier)
	case c.RandomizationFactor < 0 || c.RandomizationFactor >= 1:
		return fmt.Errorf("sender: RandomizationFactor %g must be in [0,1)", c.RandomizationFactor)
	case c.MaxInterval < c.InitialInterval:
		return fmt.Errorf("sender: MaxInterval %s must be >= InitialInterval %s", c.MaxInterval, c.InitialInterval)
	case c.MaxElapsedTime <= 0:
		return fmt.Errorf("sender: MaxElapsedTime %s must be positive", c.MaxElapsedTime)
	case c.AuthMaxInterval < c.InitialInterval:
		return fmt.Errorf("sender: AuthMaxInterval %s must be >= InitialInterval %s", c.AuthMaxInterval, c.InitialInterval)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("sender: RequestTimeout %s must be positive", c.RequestTimeout)
	case c.MaxErrorBody < 0:
		return fmt.Errorf("sender: MaxErrorBody %d must not be negative", c.MaxErrorBody)
	case c.MaxInFlight < 1:
		return fmt.Errorf("sender: MaxInFlight %d must be >= 1", c.MaxInFlight)
	case c.MaxRequestsPerSecond < 0:
		return fmt.Errorf("sender: MaxRequestsPerSecond %g must not be negative (0: no limit)", c.MaxRequestsPerSecond)
	}
	return nil
}
