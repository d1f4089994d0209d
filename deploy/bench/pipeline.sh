#!/usr/bin/env bash
# Whole-pipeline benchmark (`make bench-pipeline`): for each scenario, publishes generated
# mutations to a fresh topic on the local Kafka, then RUNS times, on that same topic and in the
# same run: kcat drains it raw to /dev/null (the floor: `kcat -C -e -o beginning -q`), and
# `profile-ingest run --stop-at-end` consumes it with a new consumer group into each sink. Each
# process runs under deploy/bench/measure (wall time, CPU from its rusage, peak RSS). Prints
# each run, then per scenario the medians: records/s and MB/s of kcat and of the worker, the
# worker's ratio to kcat (paired within a run), CPU µs per record, peak RSS, and API requests
# per record (hubsim's /_sim/stats). Needs a running broker (make bench-pipeline starts one);
# installs kcat with apt-get when it is missing.
#
# Scenarios (SCENARIOS, default "small large"), from issue 12:
#   small  SMALL_RECORDS (200000) records of ~200 B over SMALL_PARTITIONS (8) partitions
#   large  LARGE_RECORDS (60000) records of ~8 KB over LARGE_PARTITIONS (128) partitions
# Sinks (SINKS, default "hubsim accept"):
#   hubsim  checks every request's signature and every event, and applies them
#   accept  hubsim --accept-all: answers 202 at once, unchecked (the raw-speed ratio)
# Other environment: USERS (5000), RUNS (3), KAFKA_BROKERS (127.0.0.1:9092), HUBSIM_ADDR
# (127.0.0.1:18711; the accept sink uses the next port), MAX_IN_FLIGHT (4), WORKER_BIN (a
# profile-ingest binary to measure instead of this tree's), BASE_BIN (another profile-ingest
# binary, e.g. a build of main, measured too in every run, as the "base" rows: a before/after
# comparison on the same topic and the same noise). RECORDS and PARTITIONS are the small
# scenario's, as before.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
scenarios=${SCENARIOS:-small large}
sinks=${SINKS:-hubsim accept}
users=${USERS:-5000}
runs=${RUNS:-3}
brokers=${KAFKA_BROKERS:-127.0.0.1:9092}
addr=${HUBSIM_ADDR:-127.0.0.1:18711}
accept_addr=${addr%:*}:$((${addr##*:} + 1))
bin=$repo/.cache/bin
export SUPRSEND_WORKSPACE_SECRET=WSSECRET_bench

if ! command -v kcat >/dev/null; then
	echo "bench: installing kcat (the raw-drain floor)" >&2
	sudo=""
	[[ $(id -u) == 0 ]] || sudo=sudo
	$sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq kcat >/dev/null
fi

go build -o "$bin/" ./cmd/profile-ingest ./cmd/hubsim ./deploy/demo/gen ./deploy/bench/measure
workers=("worker=${WORKER_BIN:-$bin/profile-ingest}")
[[ -z ${BASE_BIN:-} ]] || workers+=("base=$BASE_BIN")
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

start_sink() { # name addr [flags...]
	local name=$1 at=$2
	shift 2
	HUBSIM_SECRET=$SUPRSEND_WORKSPACE_SECRET "$bin/hubsim" --addr "$at" --key WSKEY_bench "$@" \
		>"$repo/.cache/bench-$name.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 100); do curl -fsS "http://$at/_sim/stats" >/dev/null 2>&1 && return; sleep 0.1; done
	echo "bench: the $name sink did not start; see .cache/bench-$name.log" >&2
	exit 1
}
sink_addr() { if [[ $1 == accept ]]; then echo "$accept_addr"; else echo "$addr"; fi; }
for s in $sinks; do
	case $s in
	hubsim) start_sink hubsim "$addr" ;;
	accept) start_sink accept "$accept_addr" --accept-all ;;
	*) echo "bench: SINKS: unknown sink $s (hubsim, accept)" >&2; exit 2 ;;
	esac
done

# field NAME FILE: the value of NAME=... in a measure line.
field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
calc() { awk "BEGIN {printf \"$1\", $2}"; }

summary=()
for sc in $scenarios; do
	case $sc in
	small) records=${SMALL_RECORDS:-${RECORDS:-200000}} partitions=${SMALL_PARTITIONS:-${PARTITIONS:-8}} size=0 ;;
	large) records=${LARGE_RECORDS:-60000} partitions=${LARGE_PARTITIONS:-128} size=8000 ;;
	*) echo "bench: SCENARIOS: unknown scenario $sc (small, large)" >&2; exit 2 ;;
	esac
	data=$repo/.cache/bench-$records-$users-$size.jsonl
	[[ -f $data ]] || "$bin/gen" -n "$records" -users "$users" -seed 7 -size "$size" >"$data"
	lines=$(wc -l <"$data")
	bytes=$(($(wc -c <"$data") - lines)) # the records' values: the file without its newlines
	topic=bench.$sc.$(date +%s)
	"$bin/profile-ingest" publish --brokers "$brokers" --topic "$topic" --partitions "$partitions" --allow-invalid "$data"
	echo "scenario $sc: $lines records of ~$((bytes / lines)) B ($(calc %.1f "$bytes/1e6") MB), $partitions partitions, topic $topic"

	declare -A val=()
	for i in $(seq 1 "$runs"); do
		"$bin/measure" -o "$tmp/kcat" -- kcat -C -b "$brokers" -t "$topic" -e -o beginning -q >/dev/null
		kw=$(field wall_s "$tmp/kcat")
		val[kcat,rps]+=" $(calc %.0f "$lines/$kw")" val[kcat,mbs]+=" $(calc %.1f "$bytes/$kw/1e6")"
		val[kcat,cpu]+=" $(calc %.2f "$(field cpu_s "$tmp/kcat")*1e6/$lines")"
		val[kcat,rss]+=" $(calc %.0f "$(field maxrss_kib "$tmp/kcat")/1024")"
		echo "  run $i kcat: $(cat "$tmp/kcat")"
		for w in "${workers[@]}"; do
			for s in $sinks; do
				k=${w%%=*}" -> $s" at=$(sink_addr "$s")
				curl -fsS -X POST "http://$at/_sim/reset" >/dev/null
				line=$("$bin/measure" -o "$tmp/worker" -- "${w#*=}" run --brokers "$brokers" --topics "$topic" \
					--group "bench-$topic-${w%%=*}-$s-$i" --base-url "http://$at/" --workspace-key WSKEY_bench --listen "" \
					--log-level error --max-in-flight "${MAX_IN_FLIGHT:-4}" --commit-interval 100ms --stop-at-end | tail -n 1)
				ww=$(field wall_s "$tmp/worker")
				reqs=$(curl -fsS "http://$at/_sim/stats" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
				val[$k,rps]+=" $(calc %.0f "$lines/$ww")" val[$k,mbs]+=" $(calc %.1f "$bytes/$ww/1e6")"
				val[$k,ratio]+=" $(calc %.3f "$kw/$ww")"
				val[$k,cpu]+=" $(calc %.2f "$(field cpu_s "$tmp/worker")*1e6/$lines")"
				val[$k,rss]+=" $(calc %.0f "$(field maxrss_kib "$tmp/worker")/1024")"
				val[$k,req]+=" $(calc %.5f "$reqs/$lines")"
				echo "  run $i $k: $(cat "$tmp/worker") requests=$reqs; $line"
			done
		done
	done
	summary+=("" "scenario $sc: $lines records, ~$((bytes / lines)) B each, $partitions partitions; medians of $runs runs" "$(printf '  %-18s %10s %8s %7s %11s %13s %13s' "" records/s MB/s ratio "CPU µs/rec" "peak RSS MiB" requests/rec)")
	# shellcheck disable=SC2086 # the values are space-separated lists
	summary+=("$(printf '  %-18s %10s %8s %7s %11s %13s %13s' "kcat (raw drain)" "$(median ${val[kcat,rps]})" "$(median ${val[kcat,mbs]})" 1 "$(median ${val[kcat,cpu]})" "$(median ${val[kcat,rss]})" -)")
	for w in "${workers[@]}"; do
		for s in $sinks; do
			k=${w%%=*}" -> $s"
			# shellcheck disable=SC2086
			summary+=("$(printf '  %-18s %10s %8s %7s %11s %13s %13s' "$k" "$(median ${val[$k,rps]})" "$(median ${val[$k,mbs]})" "$(median ${val[$k,ratio]})" "$(median ${val[$k,cpu]})" "$(median ${val[$k,rss]})" "$(median ${val[$k,req]})")")
		done
	done
	unset val
done
printf '%s\n' "${summary[@]}"
