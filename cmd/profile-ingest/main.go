// Command profile-ingest keeps SuprSend user profiles in sync with profile-mutation messages on
// Kafka topics. Run it with --help for its subcommands.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/alecthomas/kong"

	"github.com/profile-ingest/profile-ingest/internal/buildinfo"
)

// Exit codes, documented in the README.
const (
	exitOK           = 0   // the command did what it was asked
	exitFailure      = 1   // a runtime failure: the broker, the API or the dead-letter topic gave up
	exitUsage        = 2   // bad flags or configuration
	exitRejected     = 3   // explain, publish: at least one input line was refused
	exitDrainTimeout = 4   // run: the shutdown drain ran out of time; unresolved records will be redelivered
	exitInterrupted  = 130 // dlq replay, dlq purge, publish: stopped by a signal before the end; it says how to resume
)

type cli struct {
	Run     runCmd     `cmd:"" help:"Consume profile mutations from Kafka and deliver them to SuprSend."`
	Explain explainCmd `cmd:"" help:"Print the identity event each message (one JSON per line, from files or stdin) becomes, or why it is rejected; sends nothing. Exit status 3 if any is rejected."`
	Publish publishCmd `cmd:"" help:"Publish mutation messages from files to a topic, keyed by distinct_id (replaying history)."`
	DLQ     dlqCmd     `cmd:"" name:"dlq" help:"Inspect, replay and purge the dead-letter topic. There is no separate drain: a replay without filters drains it, moving only its group's cursor; only purge deletes dead letters."`
	Config  configCmd  `cmd:"" help:"Check a configuration offline: config check --config F."`
	Status  statusCmd  `cmd:"" help:"A consumer group's members, committed offsets, end offsets and lag (records and time), read from the brokers without a running worker."`
	Offsets offsetsCmd `cmd:"" help:"Move a stopped consumer group's committed offsets: offsets reset (dry run unless --execute)."`
	Version versionCmd `cmd:"" help:"Print the version, commit, build date and user agent."`
	Help    helpCmd    `cmd:"" help:"Show help for a command: help [command…] is [command…] --help."`

	VersionFlag kong.VersionFlag `name:"version" help:"Print the version, commit and build date, and exit."`
}

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println(buildinfo.Get())
	fmt.Println("user agent:", buildinfo.UserAgent())
	return nil
}

func main() {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("profile-ingest"),
		kong.Description("Keeps SuprSend user profiles in sync with profile mutations on Kafka."),
		kong.UsageOnError(),
		kong.Help(printHelp),
		kong.Vars{"version": buildinfo.Get().String()},
		kong.Exit(func(code int) { os.Exit(code) }),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile-ingest:", err)
		os.Exit(exitUsage)
	}
	ctx, err := parser.Parse(os.Args[1:])
	if err != nil {
		parser.Errorf("%s", err)
		os.Exit(exitUsage)
	}
	if err := ctx.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "profile-ingest:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode maps an error from a subcommand to the process's exit status.
func exitCode(err error) int {
	if coded, ok := errors.AsType[*exitError](err); ok {
		return coded.code
	}
	return exitFailure
}
