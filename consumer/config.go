package consumer

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/segmentio/kafka-go"
)

// Config configures a Worker.
type Config struct {
	Brokers []string // Required.
	Topics  []string // Required.
	GroupID string   // Required.
	// StartOffset is where a group without committed offsets begins: kafka.FirstOffset or
	// kafka.LastOffset. Default: kafka.FirstOffset.
	StartOffset int64
	// StartTime, when set, overrides StartOffset: partitions without a commit begin at the first
	// record at or after it. Default: zero (unset).
	StartTime         time.Time
	SessionTimeout    time.Duration // Default: 10s
	HeartbeatInterval time.Duration // Default: 3s
	RebalanceTimeout  time.Duration // Default: 30s
	FetchMaxBytes     int           // the most one fetch asks of one partition. Default: 1 MiB
	FetchMaxWait      time.Duration // Default: 250ms
	// MaxInFlightRecords and MaxInFlightBytes bound the records fetched and not yet resolved
	// (and their value bytes); fetching pauses at either bound. Defaults: 20000 and 64 MiB.
	MaxInFlightRecords int
	MaxInFlightBytes   int
	CommitInterval     time.Duration // Default: 1s
	// DecodeWorkers is how many goroutines decode records beside the pipeline (decode.go):
	// records of one partition may be decoded by several at once and still reach the batchers
	// in offset order. Default: runtime.GOMAXPROCS(0), the CPUs the process may use.
	DecodeWorkers int
	// DrainTimeout bounds the wait for in-flight records on shutdown and on revoke, whatever
	// the API does; what is not resolved by then is abandoned, not committed, and read again
	// later. The member heartbeats (every HeartbeatInterval) through the drain, so it may last
	// longer than SessionTimeout. Keep it below the rebalance timeout and Kubernetes'
	// terminationGracePeriodSeconds. Default: 20s.
	DrainTimeout time.Duration
	// StopAtEnd makes Run return nil once every partition of Topics is committed up to the end
	// offset it had when Run started. Default: false.
	StopAtEnd bool
	// Dialer connects the group and the fetchers to the brokers (TLS, SASL). Default:
	// kafka.DefaultDialer.
	Dialer *kafka.Dialer
	// LagInterval is how often the consumer lag of the owned partitions is measured; 0 turns
	// the measurement off. Default: 15s.
	LagInterval time.Duration
	// IsolationLevel is how transactions are read: kafka.ReadCommitted delivers the records of
	// committed transactions only, kafka.ReadUncommitted every record (aborted ones included).
	// Transaction markers are never delivered. Default: kafka.ReadCommitted.
	IsolationLevel kafka.IsolationLevel
	// Transport carries the worker's admin requests (end offsets, the group's commits) with the
	// same TLS and SASL settings. Default: one built from Dialer.
	Transport kafka.RoundTripper
}

// MaxDecodeWorkers bounds Config.DecodeWorkers: more goroutines than that only add batches in
// flight, not speed.
const MaxDecodeWorkers = 256

// Default returns the defaults; Brokers, Topics and GroupID are left to fill.
func Default() Config {
	return Config{
		StartOffset: kafka.FirstOffset, SessionTimeout: 10 * time.Second, HeartbeatInterval: 3 * time.Second,
		RebalanceTimeout: 30 * time.Second, FetchMaxBytes: 1 << 20, FetchMaxWait: 250 * time.Millisecond,
		MaxInFlightRecords: 20000, MaxInFlightBytes: 64 << 20, CommitInterval: time.Second, DrainTimeout: 20 * time.Second,
		LagInterval: 15 * time.Second, IsolationLevel: kafka.ReadCommitted, DecodeWorkers: runtime.GOMAXPROCS(0),
	}
}

// Validate names the first field that is wrong.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("consumer: Brokers is empty")
	case len(c.Topics) == 0:
		return errors.New("consumer: Topics is empty")
	case c.GroupID == "":
		return errors.New("consumer: GroupID is empty")
	case c.StartOffset != kafka.FirstOffset && c.StartOffset != kafka.LastOffset:
		return fmt.Errorf("consumer: StartOffset %d must be kafka.FirstOffset or kafka.LastOffset", c.StartOffset)
	case c.MaxInFlightRecords < 1:
		return fmt.Errorf("consumer: MaxInFlightRecords %d must be positive", c.MaxInFlightRecords)
	case c.MaxInFlightBytes < 1:
		return fmt.Errorf("consumer: MaxInFlightBytes %d must be positive", c.MaxInFlightBytes)
	case c.DecodeWorkers < 1 || c.DecodeWorkers > MaxDecodeWorkers:
		return fmt.Errorf("consumer: DecodeWorkers %d must be 1..%d", c.DecodeWorkers, MaxDecodeWorkers)
	case c.CommitInterval <= 0:
		return fmt.Errorf("consumer: CommitInterval %s must be positive", c.CommitInterval)
	case c.DrainTimeout <= 0:
		return fmt.Errorf("consumer: DrainTimeout %s must be positive", c.DrainTimeout)
	case c.FetchMaxBytes < 1:
		return fmt.Errorf("consumer: FetchMaxBytes %d must be positive", c.FetchMaxBytes)
	case c.IsolationLevel != kafka.ReadCommitted && c.IsolationLevel != kafka.ReadUncommitted:
		return fmt.Errorf("consumer: IsolationLevel %d must be kafka.ReadCommitted or kafka.ReadUncommitted", c.IsolationLevel)
	case c.LagInterval < 0:
		return fmt.Errorf("consumer: LagInterval %s must not be negative", c.LagInterval)
	}
	return nil
}
