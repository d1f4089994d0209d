package consumer

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	consumed, delivered, commits, commitFailures prometheus.Counter
	fetches, fetchedBytes                        prometheus.Counter
	inflight                                     prometheus.Gauge
	chunks                                       *prometheus.CounterVec
	lag, lagSeconds                              *prometheus.GaugeVec
	fetchErrors                                  *prometheus.CounterVec
	skipped                                      *prometheus.CounterVec
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		consumed:       prometheus.NewCounter(prometheus.CounterOpts{Name: "profile_ingest_records_consumed_total", Help: "Records fetched from Kafka and taken into the pipeline."}),
		delivered:      prometheus.NewCounter(prometheus.CounterOpts{Name: "profile_ingest_records_delivered_total", Help: "Records the API accepted."}),
		commits:        prometheus.NewCounter(prometheus.CounterOpts{Name: "profile_ingest_offset_commits_total", Help: "Successful offset commits."}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "profile_ingest_offset_commit_failures_total", Help: "Failed offset commits (retried)."}),
		fetches: prometheus.NewCounter(prometheus.CounterOpts{Name: "profile_ingest_fetches_total",
			Help: "Fetch requests the brokers answered (failed ones are in profile_ingest_fetch_errors_total)."}),
		fetchedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "profile_ingest_fetched_bytes_total",
			Help: "Bytes of the records (keys, values, headers) in fetch answers; divided by profile_ingest_fetches_total, the size of an answer."}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "profile_ingest_records_in_flight", Help: "Records fetched and not yet resolved."}),
		chunks:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "profile_ingest_chunks_total", Help: "Chunks closed by the batcher, by flush reason."}, []string{"reason"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "profile_ingest_records_skipped_total",
			Help: "Records committed past without sending, by reason: Debezium tombstones, updates of no mapped column, Segment calls other than identify."}, []string{"reason"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "profile_ingest_consumer_lag_records",
			Help: "Records on an owned partition after the group's committed offset, as the broker reports them every consumer.lag_interval."}, []string{"topic", "partition"}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "profile_ingest_fetch_errors_total",
			Help: "Failed fetches and partition errors in fetch answers, by reason; each is retried with backoff (timeouts and connection errors reconnect)."}, []string{"reason"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "profile_ingest_consumer_lag_seconds",
			Help: "Age, by its Kafka timestamp, of the first record on an owned partition after the group's committed offset; 0 without lag."}, []string{"topic", "partition"}),
	}
	if r != nil {
		r.MustRegister(m.consumed, m.delivered, m.fetches, m.fetchedBytes, m.commits, m.commitFailures, m.inflight, m.chunks, m.lag, m.lagSeconds, m.fetchErrors, m.skipped)
	}
	return m
}
