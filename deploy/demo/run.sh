#!/usr/bin/env bash
# The main job end to end on a local default (`make run`): a real local Kafka, hubsim standing in
# for SuprSend, the shipped sample profile history (deploy/demo/sample-history.jsonl), and
# `profile-ingest run --stop-at-end` as a backfill. It prints the worker's summary and two of the
# resulting profiles, then stops what it started.
#
# Environment: KAFKA_PORT (9092), HUBSIM_ADDR (127.0.0.1:18710), SAMPLE (the sample file),
# PARTITIONS (8).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

port=${KAFKA_PORT:-9092}
brokers=127.0.0.1:$port
hubsim_addr=${HUBSIM_ADDR:-127.0.0.1:18710}
sample=${SAMPLE:-$here/sample-history.jsonl}
partitions=${PARTITIONS:-8}
bin=$repo/.cache/bin
run_id=$(date +%Y%m%d-%H%M%S)
topic=demo.profile-mutations.$run_id
key=WSKEY_demo
export SUPRSEND_WORKSPACE_SECRET="WSSECRET_demo_$RANDOM$RANDOM"

say() { printf '\n== %s\n' "$*"; }

say "building profile-ingest and hubsim"
go build -o "$bin/" ./cmd/profile-ingest ./cmd/hubsim

started_kafka=0
hubsim_pid=
cleanup() {
	[[ -n $hubsim_pid ]] && kill "$hubsim_pid" 2>/dev/null && wait "$hubsim_pid" 2>/dev/null || true
	if ((started_kafka)); then deploy/kafka/kafka.sh down; fi
}
trap cleanup EXIT

if ! KAFKA_PORT=$port deploy/kafka/kafka.sh status; then
	say "starting the local Kafka on $brokers"
	KAFKA_PORT=$port deploy/kafka/kafka.sh up
	started_kafka=1
fi

say "starting hubsim (a SuprSend-compatible endpoint) on $hubsim_addr"
HUBSIM_SECRET=$SUPRSEND_WORKSPACE_SECRET "$bin/hubsim" --addr "$hubsim_addr" --key "$key" >"$repo/.cache/hubsim.log" 2>&1 &
hubsim_pid=$!
for _ in $(seq 1 50); do
	curl -fsS "http://$hubsim_addr/_sim/stats" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fsS "http://$hubsim_addr/_sim/stats" >/dev/null || { echo "hubsim did not start; see .cache/hubsim.log" >&2; exit 1; }

say "publishing $(wc -l <"$sample") sample mutations to $topic ($partitions partitions), keyed by distinct_id"
"$bin/profile-ingest" publish --brokers "$brokers" --topic "$topic" --partitions "$partitions" --allow-invalid "$sample"

say "running the worker as a backfill: profile-ingest run --stop-at-end"
"$bin/profile-ingest" run --brokers "$brokers" --topics "$topic" --group "demo-$run_id" \
	--base-url "http://$hubsim_addr/" --workspace-key "$key" --listen "" \
	--log-format console --log-level warn --stop-at-end

say "dead letters on $topic.dlq, by reason"
"$bin/profile-ingest" dlq inspect --brokers "$brokers" --topic "$topic.dlq" --summary

pretty() { if command -v python3 >/dev/null; then python3 -m json.tool; else cat; echo; fi; }
for user in user-007 user-023; do
	say "hubsim's profile of $user"
	curl -fsS "http://$hubsim_addr/_sim/profiles/$user" | pretty
done
say "hubsim's counters"
curl -fsS "http://$hubsim_addr/_sim/stats"
echo
