#!/usr/bin/env bash
# Whole-pipeline benchmark (`make bench-pipeline`): publishes N generated mutations to a fresh
# topic on the local Kafka, then runs `profile-ingest run --stop-at-end` against hubsim RUNS
# times, each with a new consumer group, and prints each run's rate and peak RSS and their
# medians. Needs a running broker (make bench-pipeline starts one).
#
# Environment: RECORDS (200000), USERS (5000), PARTITIONS (8), RUNS (3), KAFKA_BROKERS
# (127.0.0.1:9092), HUBSIM_ADDR (127.0.0.1:18711), MAX_IN_FLIGHT (4).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
records=${RECORDS:-200000}
users=${USERS:-5000}
partitions=${PARTITIONS:-8}
runs=${RUNS:-3}
brokers=${KAFKA_BROKERS:-127.0.0.1:9092}
addr=${HUBSIM_ADDR:-127.0.0.1:18711}
bin=$repo/.cache/bin
data=$repo/.cache/bench-$records-$users.jsonl
export SUPRSEND_WORKSPACE_SECRET=WSSECRET_bench
topic=bench.profile-mutations.$(date +%s)

go build -o "$bin/" ./cmd/profile-ingest ./cmd/hubsim ./deploy/demo/gen
[[ -f $data ]] || "$bin/gen" -n "$records" -users "$users" -seed 7 >"$data"

HUBSIM_SECRET=$SUPRSEND_WORKSPACE_SECRET "$bin/hubsim" --addr "$addr" --key WSKEY_bench >"$repo/.cache/bench-hubsim.log" 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fsS "http://$addr/_sim/stats" >/dev/null 2>&1 && break; sleep 0.1; done

"$bin/profile-ingest" publish --brokers "$brokers" --topic "$topic" --partitions "$partitions" --allow-invalid "$data"

rates=() rss=()
for i in $(seq 1 "$runs"); do
	curl -fsS -X POST "http://$addr/_sim/reset" >/dev/null
	line=$("$bin/profile-ingest" run --brokers "$brokers" --topics "$topic" --group "bench-$topic-$i" \
		--base-url "http://$addr/" --workspace-key WSKEY_bench --listen "" --log-level error \
		--max-in-flight "${MAX_IN_FLIGHT:-4}" --commit-interval 100ms --stop-at-end | tail -n 1)
	echo "run $i: $line"
	rates+=("$(sed -n 's/.*(\([0-9]*\) records\/s.*/\1/p' <<<"$line")")
	rss+=("$(sed -n 's/.*peak RSS \([0-9]*\) MiB.*/\1/p' <<<"$line")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "pipeline: $records records, $users users, $partitions partitions, $runs runs:" \
	"median $(median "${rates[@]}") records/s, median peak RSS $(median "${rss[@]}") MiB"
