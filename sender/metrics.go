package sender

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are always usable; they are registered only when a Registerer is given.
type metrics struct {
	requests    *prometheus.CounterVec   // by status class: 2xx, 4xx, 5xx, error
	records     *prometheus.CounterVec   // by outcome and reason
	retries     prometheus.Counter       // attempts after the first, for any cause
	splits      prometheus.Counter       // request bodies split after a non-retryable 4xx
	latency     *prometheus.HistogramVec // HTTP round trips, by code and method (promhttp)
	inFlight    prometheus.Gauge         // chunks inside Send
	authFailing prometheus.Gauge         // 1 while the API refuses the credentials
	paced       prometheus.Counter       // seconds attempts waited for Config.MaxRequestsPerSecond
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "profile_ingest", "sender"
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "requests_total", Help: "HTTP requests to SuprSend by status class (2xx, 3xx, 4xx, 5xx, error)."}, []string{"class"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "records_total", Help: "Records resolved by Send, by outcome and failure reason."}, []string{"outcome", "reason"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "retries_total", Help: "HTTP attempts that repeated an earlier attempt of the same body."}),
		splits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "splits_total", Help: "Request bodies split in two after a non-retryable 4xx."}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "request_duration_seconds", Help: "Round-trip time of HTTP requests to SuprSend.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"code", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "in_flight_chunks", Help: "Chunks being sent, retried or split."}),
		authFailing: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "auth_failing", Help: "1 while SuprSend refuses the workspace credentials (401/403); nothing is sent then."}),
		paced: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "rate_limit_wait_seconds_total", Help: "Time HTTP attempts waited for sender.max_requests_per_second."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.records, m.retries, m.splits, m.latency, m.inFlight, m.authFailing, m.paced} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// instrument wraps rt so every round trip is timed.
func (m *metrics) instrument(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return promhttp.InstrumentRoundTripperDuration(m.latency, rt)
}

func statusClass(status int) string {
	if status == 0 {
		return "error"
	}
	return strconv.Itoa(status/100) + "xx"
}
