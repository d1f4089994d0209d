// Command ready exits 0 once the Kafka broker at the address it is given answers a metadata
// request naming at least one broker (or the number given after the address) and a controller;
// deploy/kafka/kafka.sh polls it.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

func main() {
	want := 1
	if len(os.Args) == 3 {
		n, err := strconv.Atoi(os.Args[2])
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "ready: broker count %q: use a positive number\n", os.Args[2])
			os.Exit(2)
		}
		want = n
	} else if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ready HOST:PORT [BROKERS]")
		os.Exit(2)
	}
	if err := probe(os.Args[1], want); err != nil {
		fmt.Fprintln(os.Stderr, "kafka not ready:", err)
		os.Exit(1)
	}
}

func probe(addr string, want int) error {
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
	if len(brokers) < want {
		return fmt.Errorf("metadata names %d brokers, want %d", len(brokers), want)
	}
	if _, err := conn.Controller(); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	return nil
}
