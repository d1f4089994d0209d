package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/alecthomas/kong"
)

// exitTable is the one exit-code table of every command: the end of each --help and the
// README's. TestExitTableMatchesTheREADME keeps the two the same.
const exitTable = `Exit status (the same table for every command):
  0  done as asked (run: a clean stop on a signal, or --stop-at-end reached)
  1  runtime failure: the broker, the API or the dead-letter topic could not go on (the error says which)
  2  bad flags, configuration or input file (missing or unreadable): refused before anything was done
  3  explain, publish: at least one input line was refused
  4  run: the shutdown drain ran out of time; unresolved records were not committed and will be sent again
130  dlq replay, dlq purge, publish: interrupted (Ctrl-C, SIGTERM) before the end; it says how far it got and how to resume
`

// printHelp is kong's help followed by the exit-code table.
func printHelp(options kong.HelpOptions, ctx *kong.Context) error {
	if err := kong.DefaultHelpPrinter(options, ctx); err != nil {
		return err
	}
	_, err := fmt.Fprint(ctx.Stdout, "\n"+exitTable)
	return err
}

// helpCmd is `profile-ingest help [command…]`: the same as `profile-ingest [command…] --help`.
type helpCmd struct {
	Command []string `arg:"" optional:"" help:"The command to describe, e.g. \"dlq replay\"."`
}

func (h *helpCmd) Run(ctx *kong.Context) error {
	// --help prints the command's help and exits 0 through kong.Exit; a command that does not
	// exist is a parse error.
	_, err := ctx.Kong.Parse(append(append([]string(nil), h.Command...), "--help"))
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("help %s: %w", strings.Join(h.Command, " "), err)}
	}
	return nil
}

// checkInputFiles refuses, before anything is read or sent, an input file that does not exist,
// is a directory or cannot be opened, so that explain and publish exit 2 alike ("-" is stdin).
func checkInputFiles(cmd string, files []string) error {
	var errs []error
	for _, name := range files {
		if name == "-" {
			continue
		}
		f, err := os.Open(name)
		if err == nil {
			var fi os.FileInfo
			if fi, err = f.Stat(); err == nil && fi.IsDir() {
				err = fmt.Errorf("%s is a directory, not a file of messages", name)
			}
			f.Close()
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", cmd, errors.Join(errs...))}
	}
	return nil
}
