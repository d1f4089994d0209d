// Command ready exits 0 once the Kafka broker at the address it is given answers a metadata
// request naming at least one broker and a controller; deploy/kafka/kafka.sh polls it.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ready HOST:PORT")
		os.Exit(2)
	}
	if err := probe(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "kafka not ready:", err)
		os.Exit(1)
	}
}

func probe(addr string) error {
	dialer := &kafka.Dialer{Timeout: 2 * time.Second}
	conn, err := dialer.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	brokers, err := conn.Brokers()
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if len(brokers) == 0 {
		return fmt.Errorf("metadata names no broker yet")
	}
	if _, err := conn.Controller(); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	return nil
}
