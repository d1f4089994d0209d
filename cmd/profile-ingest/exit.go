package main

import (
	"context"
	"os/signal"
	"syscall"
)

// signalContext ends on SIGTERM or SIGINT, which every long-running subcommand treats as "stop
// cleanly": finish what is in hand, commit, exit.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// exitError carries the exit status a subcommand wants, with the error to print.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
