// Package monitoring tests the Grafana dashboard (dashboard.json) against the worker: every
// query parses with Prometheus' own PromQL parser, and every metric it names is exported by a
// real `profile-ingest run` scraped here. It also pins promtool (tools.go), which tests the
// alert rules. Tests only; `make dashboard` and `make rules` run them.
package monitoring

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

// panel is the part of a Grafana panel this test reads.
type panel struct {
	Title   string
	Targets []struct{ Expr string }
	Panels  []panel
}

// queries returns every PromQL expression of dashboard.json, by panel title.
func queries(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ Panels []panel }
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	out := map[string][]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out[p.Title] = append(out[p.Title], tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// metricNames parses expr and returns the metric names it selects.
func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names, nil
}

// TestDashboardQueriesParse: every query is valid PromQL and selects metrics by name.
func TestDashboardQueriesParse(t *testing.T) {
	n := 0
	for title, exprs := range queries(t) {
		for _, q := range exprs {
			names, err := metricNames(q)
			if err != nil {
				t.Errorf("panel %q: %q: %v", title, q, err)
			}
			if slices.Contains(names, "") || len(names) == 0 {
				t.Errorf("panel %q: %q selects no metric by name", title, q)
			}
			n++
		}
	}
	if n < 20 {
		t.Errorf("only %d queries in dashboard.json", n)
	}
	if _, err := metricNames("sum(rate(profile_ingest_records_consumed_total{job=~\"$job\"}[5m])"); err == nil {
		t.Error("the parser accepted a query with an unclosed parenthesis: the test would pass anything")
	}
}

// TestDashboardMetricsAreExported runs the real worker (built from this repository) against the
// local Kafka ($KAFKA_BROKERS; make dashboard starts it) and hubsim with faults, delivers the
// sample history, scrapes /metrics and checks every metric the dashboard names is there.
func TestDashboardMetricsAreExported(t *testing.T) {
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		t.Fatal("KAFKA_BROKERS is not set: run `make dashboard` (it starts the local Kafka) or set it")
	}
	brokers, _, _ = strings.Cut(brokers, ",")
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/profile-ingest", "./cmd/hubsim")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const key, secret = "WSKEY_dash", "WSSECRET_dash"
	hub := freeAddr(t)
	start(t, []string{"HUBSIM_SECRET=" + secret}, filepath.Join(bin, "hubsim"), "--addr", hub, "--key", key,
		"--error-rate", "0.2", "--seed", "7")
	eventually(t, time.Minute, "hubsim answers", func() bool { _, err := get(hub, "/_sim/stats"); return err == nil })

	topic := fmt.Sprintf("dashboard-test.%d", time.Now().UnixNano())
	pub := exec.Command(filepath.Join(bin, "profile-ingest"), "publish", "--brokers", brokers, "--topic", topic,
		"--partitions", "2", "--allow-invalid", filepath.Join(repo, "deploy/demo/sample-history.jsonl"))
	if out, err := pub.CombinedOutput(); err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	cfg := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(cfg, []byte("consumer: {lag_interval: 200ms}\nsender: {retry_initial: 10ms, retry_max: 100ms}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	w := start(t, []string{"SUPRSEND_WORKSPACE_SECRET=" + secret}, filepath.Join(bin, "profile-ingest"), "run",
		"--config", cfg, "--brokers", brokers, "--topics", topic, "--group", topic, "--base-url", "http://"+hub+"/",
		"--workspace-key", key, "--listen", listen, "--log-level", "warn")

	lines := func() []string {
		body, err := get(listen, "/metrics")
		if err != nil {
			return nil
		}
		return strings.Split(body, "\n")
	}
	// Consumed is counted when a record is fetched; its dead letter is written later, and the
	// commit after that: wait for the commit (no partition lags), so every series is there.
	eventually(t, 5*time.Minute, "the worker has consumed the sample history and committed it", func() bool {
		consumed, lagged, partitions, caughtUp := false, false, 0, 0
		for _, l := range lines() {
			consumed = consumed || l == "profile_ingest_records_consumed_total 5000"
			lagged = lagged || strings.HasPrefix(l, "profile_ingest_consumer_lag_seconds{")
			if strings.HasPrefix(l, "profile_ingest_consumer_lag_records{") {
				partitions++
				if strings.HasSuffix(l, " 0") {
					caughtUp++
				}
			}
		}
		return consumed && lagged && partitions == 2 && caughtUp == partitions
	})
	exported := map[string]bool{}
	for _, l := range lines() {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name, _, _ := strings.Cut(l, " ")
		name, _, _ = strings.Cut(name, "{")
		exported[name] = true
	}
	checked := 0
	for title, exprs := range queries(t) {
		for _, q := range exprs {
			names, _ := metricNames(q)
			for _, n := range names {
				if !exported[n] {
					t.Errorf("panel %q: the worker exports no %s", title, n)
				}
				checked++
			}
		}
	}
	t.Logf("%d metric references checked against %d exported series names", checked, len(exported))
	if err := w.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(); err != nil {
		t.Fatalf("worker after SIGTERM: %v", err)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(addr, path string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", path, res.Status)
	}
	return string(b), err
}

// start runs a process for the test, its output in the test log on failure; killed at cleanup.
func start(t *testing.T, env []string, path string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var tail []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := bufio.NewScanner(out)
		for s.Scan() {
			tail = append(tail[max(0, len(tail)-19):], s.Text())
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s: last lines:\n%s", filepath.Base(path), strings.Join(tail, "\n"))
		}
	})
	return cmd
}

// eventually polls cond until it holds, or fails the test saying what did not happen.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
