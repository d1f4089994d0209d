// Package kafkautil holds the few kafka-go workarounds the worker and the dead-letter tools
// share, and the rule that tells a cluster not reachable yet (waited for) from one that refuses
// (Transient, UntilReachable). Its functions are safe for concurrent use. DeleteRecords, which
// kafka-go lacks, is built on kafka-go's protocol layer (deleterecords.go).
package kafkautil

import (
	"time"

	"github.com/segmentio/kafka-go"
)

// CloseReader closes r but waits at most timeout: kafka-go's Reader.Close can hang
// (segmentio/kafka-go#1248), and a hung close must not hold a consumer-group generation or a
// command. It reports whether the reader closed in time; if not, it is left to close alone.
func CloseReader(r *kafka.Reader, timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { _ = r.Close(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}
