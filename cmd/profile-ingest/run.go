package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/profile-ingest/profile-ingest/batcher"
	"github.com/profile-ingest/profile-ingest/config"
	"github.com/profile-ingest/profile-ingest/consumer"
	"github.com/profile-ingest/profile-ingest/dlq"
	"github.com/profile-ingest/profile-ingest/internal/buildinfo"
	"github.com/profile-ingest/profile-ingest/profile"
	"github.com/profile-ingest/profile-ingest/sender"
)

// runCmd is `profile-ingest run`. Flags override the config file; the file overrides defaults.
type runCmd struct {
	Config         string         `help:"YAML or JSON config file (see deploy/config.example.yaml)." env:"PROFILE_INGEST_CONFIG" type:"existingfile"`
	Brokers        []string       `help:"Kafka bootstrap brokers, comma-separated (kafka.brokers)." env:"KAFKA_BROKERS"`
	Topics         []string       `help:"Topics to consume, comma-separated (kafka.topics)." env:"PROFILE_INGEST_TOPICS"`
	Group          string         `help:"Consumer group id (kafka.group_id)." env:"PROFILE_INGEST_GROUP"`
	Start          string         `help:"Where a new group starts: earliest, latest or an RFC 3339 time (kafka.start)."`
	BaseURL        string         `help:"SuprSend base URL (suprsend.base_url)." env:"SUPRSEND_BASE_URL"`
	WorkspaceKey   string         `help:"SuprSend workspace key (suprsend.workspace_key)." env:"SUPRSEND_WORKSPACE_KEY"`
	SecretFile     string         `help:"File holding the workspace secret; else SUPRSEND_WORKSPACE_SECRET is read." type:"existingfile"`
	DLQTopic       string         `name:"dlq-topic" help:"Dead-letter topic (dlq.topic; default: first topic + .dlq)."`
	MaxInFlight    *int           `help:"Chunks sent at once, 1..64 (sender.max_in_flight)."`
	Linger         *time.Duration `help:"How long a chunk waits to fill; must be positive (batch.linger)."`
	DrainTimeout   *time.Duration `help:"Shutdown drain deadline (consumer.drain_timeout)."`
	CommitInterval *time.Duration `help:"How often resolved offsets are committed (consumer.commit_interval)."`
	StopAtEnd      bool           `help:"Exit 0 once every partition is committed up to the end offset it had at start (a backfill)."`
	Listen         *string        `help:"Address for /metrics, /healthz and /readyz; empty disables (observability.listen)."`
	LogLevel       string         `help:"debug, info, warn or error (observability.log_level)."`
	LogFormat      string         `help:"json or console (observability.log_format)."`
	CPUProfile     string         `name:"cpu-profile" help:"Write a CPU profile of the whole run (pprof format) to this file: for finding where the time goes." type:"path"`
}

func (r *runCmd) Run() error {
	cfg, _, err := r.load()
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	log, err := newLogger(cfg.Observability)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	ctx, stop := signalContext()
	defer stop()
	if r.CPUProfile != "" {
		f, err := os.Create(r.CPUProfile)
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--cpu-profile: %w", err)}
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--cpu-profile: %w", err)}
		}
		defer pprof.StopCPUProfile()
	}
	return runWorker(ctx, cfg, log, os.Stdout)
}

// load reads the config file, applies the flags and the secrets, and validates; an error names
// the file's line, or the flag, that set a wrong value.
func (r *runCmd) load() (config.Config, config.Source, error) {
	cfg, src, err := config.LoadFile(r.Config)
	if err != nil {
		return cfg, src, err
	}
	if len(r.Brokers) > 0 {
		cfg.Kafka.Brokers = r.Brokers
	}
	if len(r.Topics) > 0 {
		cfg.Kafka.Topics = r.Topics
	}
	setIf(&cfg.Kafka.GroupID, r.Group)
	setIf(&cfg.Kafka.Start, r.Start)
	setIf(&cfg.SuprSend.BaseURL, r.BaseURL)
	setIf(&cfg.SuprSend.WorkspaceKey, r.WorkspaceKey)
	setIf(&cfg.SuprSend.SecretFile, r.SecretFile)
	setIf(&cfg.DLQ.Topic, r.DLQTopic)
	// A number or a duration given as a flag is taken as given, zero included (Validate
	// refuses what is out of range); only a flag not given keeps the file's value.
	if r.MaxInFlight != nil {
		cfg.Sender.MaxInFlight = *r.MaxInFlight
	}
	for _, d := range []struct {
		flag *time.Duration
		dst  *config.Duration
	}{{r.Linger, &cfg.Batch.Linger}, {r.DrainTimeout, &cfg.Consumer.DrainTimeout}, {r.CommitInterval, &cfg.Consumer.CommitInterval}} {
		if d.flag != nil {
			*d.dst = config.D(*d.flag)
		}
	}
	setIf(&cfg.Observability.LogLevel, r.LogLevel)
	setIf(&cfg.Observability.LogFormat, r.LogFormat)
	if r.Listen != nil {
		cfg.Observability.Listen = *r.Listen
	}
	cfg.Consumer.StopAtEnd = cfg.Consumer.StopAtEnd || r.StopAtEnd
	if err := cfg.ReadSecrets(); err != nil {
		return cfg, src, err
	}
	src.Flags = r.flagsGiven()
	return cfg, src, src.Locate(cfg.Validate())
}

// setIf overwrites *dst with v when v is not its type's zero value.
func setIf[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

func newLogger(o config.Observability) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(o.LogLevel)
	if err != nil || o.LogLevel == "" {
		return zerolog.Nop(), fmt.Errorf("config: observability.log_level %q: use debug, info, warn or error", o.LogLevel)
	}
	var out = zerolog.New(os.Stderr)
	switch o.LogFormat {
	case "json":
	case "console":
		out = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly})
	default:
		return zerolog.Nop(), fmt.Errorf("config: observability.log_format %q: use json or console", o.LogFormat)
	}
	return out.Level(level).With().Timestamp().Logger(), nil
}

// runWorker wires the pipeline, runs it until ctx ends or the backfill is done, and prints a summary.
func runWorker(ctx context.Context, cfg config.Config, log zerolog.Logger, summary *os.File) error {
	limitMemory(cfg.Consumer.MaxInFlightBytes)
	// The decoders' options and mappings are checked once, before anything starts: a fault fails
	// the start (exit 2) instead of dead-lettering every record.
	dec, err := profile.NewDecoder(profile.Options{WorkspaceKey: cfg.SuprSend.WorkspaceKey, UserAgent: buildinfo.UserAgent()})
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("config: suprsend.workspace_key: %w", err)}
	}
	decode, err := topicDecoders(cfg.Kafka, dec, log) // formats.go: mutation, debezium or segment per topic
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(buildinfo.Collector()) // profile_ingest_build_info{version,commit,date,goversion}

	dialer, transport, err := kafkaDialer(cfg.Kafka)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	secret := cfg.SuprSend.Secret.Reveal()
	snd, err := sender.New(cfg.SuprSend.BaseURL, sender.Credentials{Key: cfg.SuprSend.WorkspaceKey, Secret: secret},
		sender.WithConfig(senderConfig(cfg)), sender.WithLogger(log), sender.WithRegisterer(reg),
		sender.WithUserAgent(buildinfo.UserAgent()))
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	dcfg := dlq.Default(cfg.DLQTopic())
	dcfg.MaxBatchBytes = cfg.DLQ.MaxMessageBytes // until the topic's own limit is read
	dead, err := dlq.NewWriter(cfg.Kafka.Brokers, dcfg, dlq.WithLogger(log), dlq.WithRegisterer(reg),
		dlq.WithWorkerVersion(buildinfo.UserAgent()), dlq.WithRedact(secret, cfg.Kafka.SASL.Password.Reveal()), dlq.WithTransport(transport))
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	defer dead.Close()

	wcfg := consumer.Default()
	wcfg.Brokers, wcfg.Topics, wcfg.GroupID = cfg.Kafka.Brokers, cfg.Kafka.Topics, cfg.Kafka.GroupID
	wcfg.Dialer, wcfg.Transport = dialer, transport
	if cfg.Kafka.Start == "latest" {
		wcfg.StartOffset = kafka.LastOffset
	}
	if t, ok, _ := cfg.Kafka.StartTime(); ok {
		wcfg.StartTime = t
	}
	wcfg.SessionTimeout, wcfg.HeartbeatInterval, wcfg.RebalanceTimeout = cfg.Kafka.SessionTimeout.D(), cfg.Kafka.HeartbeatInterval.D(), cfg.Kafka.RebalanceTimeout.D()
	wcfg.FetchMaxBytes, wcfg.FetchMaxWait = cfg.Kafka.FetchMaxBytes, cfg.Kafka.FetchMaxWait.D()
	wcfg.MaxInFlightRecords, wcfg.MaxInFlightBytes = cfg.Consumer.MaxInFlightRecords, cfg.Consumer.MaxInFlightBytes
	wcfg.CommitInterval, wcfg.DrainTimeout, wcfg.StopAtEnd = cfg.Consumer.CommitInterval.D(), cfg.Consumer.DrainTimeout.D(), cfg.Consumer.StopAtEnd
	wcfg.LagInterval, wcfg.DecodeWorkers = cfg.Consumer.LagInterval.D(), cfg.Consumer.DecodeWorkers
	if cfg.Kafka.IsolationLevel == "read_uncommitted" {
		wcfg.IsolationLevel = kafka.ReadUncommitted
	}
	bcfg := batcher.Config{MaxRecords: cfg.Batch.MaxRecords, MaxBytes: cfg.Batch.MaxBytes, Linger: cfg.Batch.Linger.D()}

	worker, err := consumer.New(wcfg, decode, bcfg, sender.NewDispatcher(snd, cfg.Sender.MaxInFlight), dead,
		consumer.WithLogger(log), consumer.WithRegisterer(reg), consumer.WithSendSlots(cfg.Sender.MaxInFlight))
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	startup := newKafkaStartup()
	if cfg.Observability.Listen != "" {
		srv, err := serveObservability(cfg.Observability.Listen, reg, startup.Ready, worker.Ready, snd.Ready, dead.Ready)
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		defer srv.Close()
	}
	// A cluster that cannot be reached yet is waited for (see connectKafka), observable meanwhile.
	dlqMaxBytes, err := connectKafka(ctx, cfg, transport, log, startup)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before the cluster was reached: nothing was consumed
		}
		return err
	}
	// Dead letters are gathered into batches the dead-letter topic takes: a larger one is
	// refused only after the broker has read it whole into memory.
	dead.SetMaxBatchBytes(dlqMaxBytes)
	log.Info().Strs("topics", cfg.Kafka.Topics).Str("group", cfg.Kafka.GroupID).Str("dlq", cfg.DLQTopic()).
		Str("base_url", cfg.SuprSend.BaseURL).Str("version", buildinfo.Get().Version).Str("commit", buildinfo.Get().Commit).Msg("starting")
	began := time.Now()
	err = worker.Run(ctx)
	printSummary(summary, worker.Stats(), time.Since(began))
	switch {
	case errors.Is(err, consumer.ErrDrainTimeout):
		return &exitError{code: exitDrainTimeout, err: err}
	case err != nil:
		return err
	}
	return nil
}

// memoryOverhead is what the worker holds beyond consumer.max_in_flight_bytes: the runtime,
// connections, one fetch answer being read, requests being sent, and the collector's headroom.
const memoryOverhead = 48 << 20

// limitMemory sets the Go runtime's soft memory limit to the in-flight budget plus the fixed
// overhead, unless GOMEMLIMIT sets one: the collector then works harder near the limit instead
// of letting garbage double the heap, so the peak RSS follows the configuration.
func limitMemory(maxInFlightBytes int) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(maxInFlightBytes) + memoryOverhead)
	}
}

func senderConfig(cfg config.Config) sender.Config {
	sc := sender.Default()
	sc.InitialInterval, sc.MaxInterval = cfg.Sender.RetryInitial.D(), cfg.Sender.RetryMax.D()
	sc.MaxElapsedTime, sc.AuthMaxInterval = cfg.Sender.RetryMaxElapsed.D(), cfg.Sender.AuthRetryMax.D()
	sc.RequestTimeout, sc.MaxInFlight = cfg.SuprSend.Timeout.D(), cfg.Sender.MaxInFlight
	sc.MaxRequestsPerSecond = cfg.Sender.MaxRequestsPerSecond
	return sc
}

// kafkaDialer builds the SASL/TLS settings for the consumer group, readers and writers.
func kafkaDialer(k config.Kafka) (*kafka.Dialer, *kafka.Transport, error) {
	var mech sasl.Mechanism
	var err error
	switch k.SASL.Mechanism {
	case "":
	case "plain":
		mech = plain.Mechanism{Username: k.SASL.Username, Password: k.SASL.Password.Reveal()}
	case "scram-sha-256":
		mech, err = scram.Mechanism(scram.SHA256, k.SASL.Username, k.SASL.Password.Reveal())
	case "scram-sha-512":
		mech, err = scram.Mechanism(scram.SHA512, k.SASL.Username, k.SASL.Password.Reveal())
	}
	if err != nil {
		return nil, nil, fmt.Errorf("config: kafka.sasl: %w", err)
	}
	var tlsCfg *tls.Config
	if k.TLS || k.TLSCAFile != "" || k.TLSCertFile != "" {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if k.TLSCertFile != "" || k.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(k.TLSCertFile, k.TLSKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("config: kafka.tls_cert_file and kafka.tls_key_file: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	if k.TLSCAFile != "" {
		pem, err := os.ReadFile(k.TLSCAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("config: kafka.tls_ca_file: %w", err)
		}
		tlsCfg.RootCAs = x509.NewCertPool()
		if !tlsCfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("config: kafka.tls_ca_file %s: no PEM certificate in it", k.TLSCAFile)
		}
	}
	d := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, SASLMechanism: mech, TLS: tlsCfg}
	return d, &kafka.Transport{SASL: mech, TLS: tlsCfg, DialTimeout: 10 * time.Second}, nil
}

// serveObservability serves /metrics, /healthz (the process is alive) and /readyz (in a group
// generation and the API accepts the credentials).
func serveObservability(addr string, reg *prometheus.Registry, checks ...func() error) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("observability.listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		var errs []error
		for _, c := range checks {
			errs = append(errs, c())
		}
		if err := errors.Join(errs...); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

func printSummary(out *os.File, s consumer.Snapshot, took time.Duration) {
	var dead int64
	var reasons []string
	for reason, n := range s.DeadLettered {
		dead += n
		reasons = append(reasons, fmt.Sprintf("%s %d", reason, n))
	}
	sort.Strings(reasons)
	rate := float64(s.Consumed) / took.Seconds()
	fmt.Fprintf(out, "consumed %d, delivered %d, dead-lettered %d", s.Consumed, s.Delivered, dead)
	if len(reasons) > 0 {
		fmt.Fprintf(out, " (%s)", strings.Join(reasons, ", "))
	}
	if s.Skipped > 0 {
		fmt.Fprintf(out, ", skipped %d", s.Skipped)
	}
	fmt.Fprintf(out, ", abandoned %d, in %s (%.0f records/s)", s.Abandoned, took.Round(time.Millisecond), rate)
	if mib, ok := peakRSSMiB(); ok {
		fmt.Fprintf(out, ", peak RSS %d MiB", mib)
	}
	fmt.Fprintln(out)
}

// peakRSSMiB reads the process's peak resident set size (VmHWM) on Linux.
func peakRSSMiB() (int, bool) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb / 1024, true
			}
		}
	}
	return 0, false
}
