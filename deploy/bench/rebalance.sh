#!/usr/bin/env bash
# Measures what one scale step costs (deploy/k8s/scaledobject.yaml is tuned by it): a worker
# delivers a backlog to hubsim (200 ms of API latency and one chunk in flight, so the backlog lasts), a second worker joins the
# group, and the longest stretch in which hubsim applied no event from the moment it was started
# is the rebalance pause of the whole group (kafka-go rebalances eagerly). RUNS runs, each printed,
# then the median. Environment: KAFKA_BROKERS (127.0.0.1:9092), RUNS (3), RECORDS (100000),
# PARTITIONS (8). Run it with `deploy/kafka/kafka.sh with deploy/bench/rebalance.sh`.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
brokers=${KAFKA_BROKERS:-127.0.0.1:9092}
brokers=${brokers%%,*}
runs=${RUNS:-3}
records=${RECORDS:-100000}
partitions=${PARTITIONS:-8}
work=$(mktemp -d)
pids=()
cleanup() { stop_all; rm -rf "$work"; }
trap cleanup EXIT
go build -o "$work/" ./cmd/profile-ingest ./cmd/hubsim ./deploy/demo/gen
"$work/gen" -n "$records" -users 2000 -seed 7 >"$work/data.jsonl"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
applied() { curl -fsS "http://$hub/_sim/stats" 2>/dev/null | sed -n 's/.*"events_applied":\([0-9]*\).*/\1/p' | grep . || echo 0; }
consumed() { curl -fsS "http://$1/metrics" 2>/dev/null | awk '$1 == "profile_ingest_records_consumed_total" { print $2 }' | grep . || echo 0; }
# stop_all stops the workers before hubsim, so their drains can deliver.
stop_all() { local i; for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null && wait "${pids[i]}" 2>/dev/null; done; pids=(); }
export SUPRSEND_WORKSPACE_SECRET=rebalance-secret
gaps=()
for run in $(seq 1 "$runs"); do
	hub=127.0.0.1:$(free_port)
	HUBSIM_SECRET=$SUPRSEND_WORKSPACE_SECRET "$work/hubsim" --addr "$hub" --key K --latency 200ms >"$work/hubsim-$run.log" 2>&1 &
	pids+=($!)
	until curl -fsS -o /dev/null "http://$hub/_sim/stats" 2>/dev/null; do sleep 0.2; done
	topic=rebalance.$(date +%s%N)
	"$work/profile-ingest" publish --brokers "$brokers" --topic "$topic" --partitions "$partitions" --allow-invalid "$work/data.jsonl" >/dev/null 2>&1
	listen1=127.0.0.1:$(free_port) listen2=127.0.0.1:$(free_port)
	for listen in "$listen1" "$listen2"; do
		"$work/profile-ingest" run --brokers "$brokers" --topics "$topic" --group "$topic" --base-url "http://$hub/" \
			--workspace-key K --listen "$listen" --log-level error --max-in-flight 1 >"$work/worker-$run-${listen##*:}.log" 2>&1 &
		pids+=($!)
		joined=$(date +%s.%N)
		[[ $listen == "$listen2" ]] && break
		until (($(applied) > records / 20)); do sleep 0.2; done # the first worker is in full flow
	done
	# Sample events_applied every 100 ms from the second worker's start until it has consumed
	# records for 5 s (it joined and got partitions), at most 90 s, or the backlog is done.
	: >"$work/samples"
	settled=0
	while (($(date +%s) < ${joined%.*} + 90)); do
		n=$(applied)
		echo "$(date +%s.%N) $n" >>"$work/samples"
		((n >= records - 100)) && break
		if (($(consumed "$listen2") > 0)); then
			((settled == 0)) && settled=$(date +%s)
			(($(date +%s) >= settled + 5)) && break
		fi
		sleep 0.1
	done
	((settled > 0)) || { echo "run $run: the second worker consumed nothing in 90 s; not counted"; stop_all; continue; }
	gap=$(awk '{ if (NR == 1) since = $1; else if ($2 > last) { g = $1 - since; if (g > max) max = g; since = $1 } last = $2 } END { printf "%.1f", max }' "$work/samples")
	echo "run $run: the longest stretch without an applied event after the second worker started: ${gap} s (it then consumed $(consumed "$listen2") records)"
	gaps+=("$gap")
	stop_all
done
printf '%s\n' "${gaps[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "median pause of a scale step: %s s over %d runs\n", a[int((NR + 1) / 2)], NR }'
