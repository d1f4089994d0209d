# profile-ingest: `make run` runs the main job end to end on a local default, `make test` runs
# every test. Both start the project's local Kafka (deploy/kafka/kafka.sh) when it is not running
# and stop only what they started.

GO          ?= go
KAFKA       := deploy/kafka/kafka.sh
FUZZTIME    ?= 10s
BENCHTIME   ?= 1s
BENCHCOUNT  ?= 6
PKGS        := ./...

.PHONY: all build test test-cluster test-cdc run-cdc vet unit fuzz integration kafka-up kafka-down kafka-clean run bench bench-go bench-pipeline clean

all: build

build:
	$(GO) build -ldflags "$$(deploy/image/ldflags.sh)" -o bin/ ./cmd/...

## test: go vet, unit tests with -race, a short fuzz run, then the broker tests against real Kafka.
test: vet unit fuzz integration

vet:
	$(GO) vet $(PKGS)
	$(GO) vet -tags integration ./integration/...

unit:
	$(GO) test -race -count=1 $(PKGS)

fuzz:
	@set -e; for target in $$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' . | sed 's/^func //' | sort -u); do \
		pkg=$$(dirname $$(grep -rlE "^func $$target\(" --include='*_test.go' . | head -n1)); \
		echo "fuzz $$target in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$target$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

integration:
	$(KAFKA) with $(GO) test -tags integration -race -count=1 -p 1 -timeout 45m ./integration/...

## test-cluster: the TestCluster* integration tests on a three-node KRaft cluster of their own
## (ports KAFKA_CLUSTER_PORT..+5), which they crash and restart node by node; started and stopped here.
KAFKA_CLUSTER_PORT ?= 9192
test-cluster:
	KAFKA_NODES=3 KAFKA_PORT=$(KAFKA_CLUSTER_PORT) $(KAFKA) with \
		$(GO) test -tags integration -race -count=1 -p 1 -timeout 20m -run '^TestCluster' -v ./integration/...

## test-cdc: PostgreSQL + Debezium on Kafka Connect + Kafka + the worker + hubsim (deploy/cdc/cdc.sh).
test-cdc:
	$(KAFKA) with deploy/cdc/cdc.sh with $(GO) test -tags integration -race -count=1 -p 1 -timeout 20m -run 'TestDebezium' ./integration/...

kafka-up:
	$(KAFKA) up

kafka-down:
	$(KAFKA) down

kafka-clean:
	$(KAFKA) clean

## run: the main job end to end: local Kafka + hubsim + the sample history, as a backfill.
run:
	deploy/demo/run.sh

## run-cdc: a PostgreSQL users table synced to hubsim through Debezium and a mapping file.
run-cdc:
	$(KAFKA) with deploy/cdc/cdc.sh with deploy/cdc/demo.sh

## bench: the Go benchmarks (BENCHCOUNT runs each, for benchstat), then the whole pipeline.
bench: bench-go bench-pipeline

bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) -count=$(BENCHCOUNT) $(PKGS)

## bench-pipeline: Kafka + the worker beside kcat's raw drain of the same topic (issue 12's scenarios:
## throughput, memory at 256/1,024 partitions and 900 KB records, latency at a steady rate, the
## image under a memory limit), medians of RUNS, one summary; deploy/bench/pipeline.sh has the knobs.
bench-pipeline:
	$(KAFKA) with deploy/bench/pipeline.sh

clean:
	rm -rf bin

# --- deploy (issue 9): the image, the Kubernetes manifests, the alert rules, the dashboard ---
# `make test` also runs manifests, rules and dashboard; .ci/run runs test-image.
PROMTOOL := .cache/bin/promtool

.PHONY: image test-image manifests rules dashboard

test: manifests rules dashboard

## image: the FROM scratch image (IMAGE, default profile-ingest:dev) with podman or docker.
image:
	deploy/image/build.sh

## test-image: build the image and run it read-only, non-root, with a memory limit, against Kafka and hubsim;
## then drain 320 MB over 256 partitions under --memory 160m (exit 0, nothing lost, not OOM-killed).
test-image:
	$(KAFKA) with deploy/image/test.sh

## manifests: render deploy/k8s and decode every object strictly into its API type (own module).
manifests:
	cd deploy/k8s && $(GO) vet . && $(GO) test -count=1 .

## rules: promtool (built once, without service discovery, from deploy/monitoring's pinned Prometheus) checks and unit-tests the alerts.
$(PROMTOOL): deploy/monitoring/go.mod deploy/monitoring/go.sum
	cd deploy/monitoring && $(GO) build -tags remove_all_sd -o ../../$(PROMTOOL) github.com/prometheus/prometheus/cmd/promtool

rules: $(PROMTOOL)
	$(PROMTOOL) check rules deploy/monitoring/alerts.yaml
	cd deploy/monitoring && ../../$(PROMTOOL) test rules alerts_test.yaml

## dashboard: every dashboard query parses, and names a metric a running worker exports (local Kafka).
dashboard:
	cd deploy/monitoring && $(GO) vet .
	$(KAFKA) with sh -c 'cd deploy/monitoring && $(GO) test -count=1 .'
# --- end deploy ---
