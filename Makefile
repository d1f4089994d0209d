# profile-ingest: `make run` runs the main job end to end on a local default, `make test` runs
# every test. Both start the project's local Kafka (deploy/kafka/kafka.sh) when it is not running
# and stop only what they started.

GO          ?= go
KAFKA       := deploy/kafka/kafka.sh
FUZZTIME    ?= 10s
BENCHTIME   ?= 1s
BENCHCOUNT  ?= 6
PKGS        := ./...

.PHONY: all build test test-cdc run-cdc vet unit fuzz integration kafka-up kafka-down kafka-clean run bench bench-go bench-pipeline clean

all: build

build:
	$(GO) build -o bin/ ./cmd/...

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

## bench-pipeline: Kafka + hubsim + `profile-ingest run --stop-at-end` on generated data, medians of RUNS.
bench-pipeline:
	$(KAFKA) with deploy/bench/pipeline.sh

clean:
	rm -rf bin
