package main

import "errors"

// exitError carries the exit status a subcommand wants, with the error to print.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

func asExitCoder(err error, target *interface{ ExitCode() int }) bool {
	return errors.As(err, target)
}
