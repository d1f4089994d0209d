// Command hubsim serves a simulated SuprSend event endpoint (package hubsim) for demos, load
// tests and end-to-end tests of profile-ingest.
//
//	hubsim --key WSKEY_x --secret ... [--addr 127.0.0.1:8710] [--error-rate 0.1 ...]
//
// Faults can also be changed at run time: POST /_sim/faults with a JSON body (GET to read).
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
	"github.com/rs/zerolog"

	"github.com/profile-ingest/profile-ingest/hubsim"
)

type cli struct {
	Addr          string        `default:"127.0.0.1:8710" help:"Address to listen on."`
	Key           string        `required:"" env:"HUBSIM_KEY" help:"Workspace key requests must be signed with."`
	Secret        string        `required:"" env:"HUBSIM_SECRET" help:"Workspace secret (prefer the HUBSIM_SECRET environment variable)."`
	MaxSkew       time.Duration `default:"15m" help:"Largest accepted distance between a request's Date and the clock."`
	AcceptAnyDate bool          `help:"Accept any Date (to replay captured requests)."`
	KeepInsertIDs int           `name:"keep-insert-ids" default:"0" help:"Latest $insert_ids each profile keeps, for order checks."`
	DedupWindow   int           `default:"1048576" help:"Applied $insert_ids remembered to skip duplicates."`
	AcceptAll     bool          `help:"Answer 202 to every event request without checking or applying it (the cheapest sink, for benchmarks); requests are still counted."`
	RecordLatency bool          `help:"Record each event's arrival minus its $time (end-to-end latency), read at GET /_sim/latency; POST /_sim/latency {\"from_ms\":…,\"until_ms\":…} sets the window."`

	ErrorRate        float64       `help:"Share of requests answered --error-status."`
	ErrorStatus      int           `default:"503" help:"Status of injected errors (5xx)."`
	ThrottleRate     float64       `help:"Share of requests answered 429."`
	RetryAfter       time.Duration `default:"1s" help:"Retry-After of injected 429/503 answers (whole seconds)."`
	Latency          time.Duration `help:"Latency added to every request."`
	LatencyJitter    time.Duration `help:"Random extra latency, up to this much."`
	DropRate         float64       `help:"Share of requests whose connection is closed without an answer."`
	LostResponseRate float64       `help:"Share of valid requests applied, then closed without an answer (the client resends)."`
	RejectDistinctID string        `name:"reject-distinct-id" help:"Regexp: events whose distinct_id matches are refused with 400."`
	RejectMessage    string        `help:"Message for refused distinct_ids."`
	AuthOutage       bool          `help:"Answer 401 to every event request (toggle at run time via /_sim/faults)."`
	Seed             uint64        `help:"Seed for fault draws (0: from the clock)."`
}

func main() {
	var c cli
	kong.Parse(&c, kong.Name("hubsim"), kong.Description("Simulated SuprSend event endpoint."))
	log := zerolog.New(os.Stderr).With().Timestamp().Str("component", "hubsim").Logger()
	if err := run(c, log); err != nil {
		log.Error().Err(err).Msg("hubsim stopped")
		os.Exit(1)
	}
}

func run(c cli, log zerolog.Logger) error {
	cfg := hubsim.Default()
	cfg.Key, cfg.Secret = c.Key, c.Secret
	cfg.MaxSkew, cfg.AcceptAnyDate, cfg.KeepInsertIDs, cfg.DedupWindow = c.MaxSkew, c.AcceptAnyDate, c.KeepInsertIDs, c.DedupWindow
	cfg.AcceptAll, cfg.RecordLatency = c.AcceptAll, c.RecordLatency
	cfg.Faults = hubsim.Faults{
		ErrorRate: c.ErrorRate, ErrorStatus: c.ErrorStatus, ThrottleRate: c.ThrottleRate,
		RetryAfter: hubsim.Duration(c.RetryAfter), Latency: hubsim.Duration(c.Latency),
		LatencyJitter: hubsim.Duration(c.LatencyJitter), DropRate: c.DropRate, LostResponseRate: c.LostResponseRate,
		RejectDistinctID: c.RejectDistinctID, RejectMessage: c.RejectMessage, AuthOutage: c.AuthOutage, Seed: c.Seed,
	}
	srv, err := hubsim.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return srv.Run(ctx, c.Addr, func(a net.Addr) {
		log.Info().Str("addr", a.String()).Str("key", c.Key).Interface("faults", srv.Faults()).
			Msg(fmt.Sprintf("listening; base URL http://%s/", a))
	})
}
