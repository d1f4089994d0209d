#!/usr/bin/env bash
# Whole-pipeline benchmark (`make bench-pipeline`), issue 12's scenarios on the local Kafka, each
# on fresh topics, every consumer measured the same way by deploy/bench/measure (wall time, CPU
# from its rusage, peak RSS). Prints every run, then one summary of medians. Needs a running
# broker (make bench-pipeline starts one); installs kcat with apt-get when it is missing.
#
# Backlog scenarios: the topic is filled first, then RUNS times, in the same run: kcat drains it
# raw to /dev/null (the floor: `kcat -C -e -o beginning -q`), and `profile-ingest run
# --stop-at-end` consumes it with a new consumer group into each sink. Summary: records/s and
# MB/s of kcat and of the worker, the worker's ratio to kcat (paired within a run), CPU µs per
# record, peak RSS against the README's bound (BOUND_MIB, 128: the default
# consumer.max_in_flight_bytes 64 MiB + 64 MiB) and API requests per record.
#   small    SMALL_RECORDS (200000) records of ~200 B over SMALL_PARTITIONS (8) partitions
#   large    LARGE_RECORDS (60000) records of ~8 KB over LARGE_PARTITIONS (128) partitions
#   mem256   MEM256_RECORDS (40000) records of ~8 KB over 256 partitions: 320 MB, five times
#            the in-flight budget
#   mem1024  MEM1024_RECORDS (100000) records of ~200 B over 1,024 partitions
#   huge     HUGE_RECORDS (300) records of HUGE_SIZE (900000) bytes over 16 partitions, near the
#            broker's 1 MiB default: every one is over the API's 10 KB event limit, so the
#            worker dead-letters them all (requests/rec 0)
# small and large are deploy/demo/gen's histories published with `profile-ingest publish`; the
# memory scenarios are written by deploy/bench/load. Sinks (SINKS for small and large, default
# "hubsim accept"; MEM_SINKS for the memory scenarios, default "accept"):
#   hubsim  checks every request's signature and every event, and applies them
#   accept  hubsim --accept-all: answers 202 at once, unchecked (the raw-speed ratio)
#
# latency: for each rate in LATENCY_RATES (2000 10000) records/s and each partition count in
# LATENCY_PARTITIONS (8 64), LATENCY_RUNS (1) times: a fresh topic, the consumer started live
# (default batch settings: batch.linger 100 ms, 400 events a chunk), then deploy/bench/load
# writes at that rate for LATENCY_WARMUP (5) + LATENCY_SECONDS (20) seconds, stamping each
# record with its write time; the worker gives the event that Kafka timestamp as its $time, and
# the sink (hubsim --accept-all --record-latency) counts arrival − $time per event and the
# requests that arrive, over the LATENCY_SECONDS after the warm-up. Summary: p50 and p99 (1 ms
# resolution) against the goal p99 <= linger + 150 ms (LINGER_MS, 100), API requests/s against
# the minimum, rate / min(400, rate × linger) (goal <= 1.5×), CPU µs/rec and peak RSS of the
# consumer. Bento (kafka_franz → http_client, batching count 400, period = linger, the records
# stamped with their Kafka timestamp, no validation, no signing) runs the same cases when
# BENTO_BIN (default .cache/bin/bento) is an executable; BENTO=0 leaves it out.
#
# image: the worker's image (deploy/image/build.sh, IMAGE profile-ingest:bench) under a hard
# memory limit (IMAGE_MEMORY, 160m; podman --runtime runc --network host --read-only) drains
# the mem256 topic (made here when mem256 did not run) to the accept sink with --stop-at-end:
# the summary shows its exit code, whether it was OOM-killed, and records delivered against
# records published. Skipped, saying why, when no container runtime works.
#
# Other environment: SCENARIOS (small large mem256 mem1024 latency image huge), USERS (5000),
# RUNS (3), KAFKA_BROKERS (127.0.0.1:9092), HUBSIM_ADDR (127.0.0.1:18711; the accept sink uses
# the next port, the latency sink the one after, the worker's /readyz and Bento's HTTP server the
# two after that), MAX_IN_FLIGHT (4, backlog scenarios only), WORKER_BIN (a profile-ingest binary
# to measure instead of this tree's), BASE_BIN (another build, e.g. of main, measured too in
# every run and case, as the "base" rows: a before/after on the same topics and the same noise),
# KEEP_TOPICS=1 keeps the topics made (deleted after each scenario by default). RECORDS and
# PARTITIONS are the small scenario's, as before. The default run takes about 7 minutes on the
# 2-core development machine (LATENCY_RUNS=3 adds 4);
# fewer SCENARIOS, RUNS, or smaller counts shrink it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
scenarios=${SCENARIOS:-small large mem256 mem1024 latency image huge}
sinks=${SINKS:-hubsim accept}
mem_sinks=${MEM_SINKS:-accept}
users=${USERS:-5000}
runs=${RUNS:-3}
brokers=${KAFKA_BROKERS:-127.0.0.1:9092}
addr=${HUBSIM_ADDR:-127.0.0.1:18711}
host=${addr%:*} port=${addr##*:}
accept_addr=$host:$((port + 1)) lat_addr=$host:$((port + 2))
worker_listen=$host:$((port + 3)) bento_addr=$host:$((port + 4))
bound_mib=${BOUND_MIB:-128}
linger_ms=${LINGER_MS:-100}
bin=$repo/.cache/bin
export SUPRSEND_WORKSPACE_SECRET=WSSECRET_bench

if ! command -v kcat >/dev/null; then
	echo "bench: installing kcat (the raw-drain floor)" >&2
	sudo=""
	[[ $(id -u) == 0 ]] || sudo=sudo
	$sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq kcat >/dev/null
fi

go build -o "$bin/" ./cmd/profile-ingest ./cmd/hubsim ./deploy/demo/gen ./deploy/bench/measure ./deploy/bench/load
workers=("worker=${WORKER_BIN:-$bin/profile-ingest}")
[[ -z ${BASE_BIN:-} ]] || workers+=("base=$BASE_BIN")
bento=${BENTO_BIN:-$bin/bento}
bento_note="not run: BENTO=0"
if [[ ${BENTO:-1} != 0 ]]; then
	if [[ -x $bento ]]; then bento_note=""; else bento_note="not run: no executable at BENTO_BIN=$bento"; fi
fi
tmp=$(mktemp -d)
pids=()
topics=()
kept=() # mem256's topics, kept for the image scenario
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	topics+=("${kept[@]}")
	drop_topics
	rm -rf "$tmp"
}
drop_topics() {
	if ((${#topics[@]})) && [[ ${KEEP_TOPICS:-0} != 1 ]]; then
		"$bin/load" -brokers "$brokers" -delete "$(IFS=,; echo "${topics[*]}")" || true
	fi
	topics=()
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
for s in $sinks $mem_sinks; do
	case $s in hubsim | accept) ;; *) echo "bench: SINKS, MEM_SINKS: unknown sink $s (hubsim, accept)" >&2; exit 2 ;; esac
done
start_sink hubsim "$addr"
start_sink accept "$accept_addr" --accept-all
start_sink latency "$lat_addr" --accept-all --record-latency

# field NAME FILE: the value of NAME=... in a measure (or load) line.
field() { sed -n "s/.*\b$1=\([0-9.-]*\).*/\1/p" "$2"; }
# jfield NAME JSON: a number in hubsim's JSON.
jfield() { sed -n "s/.*\"$1\":\([0-9-]*\).*/\1/p" <<<"$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
calc() { awk "BEGIN {printf \"$1\", $2}"; }
# poll SECONDS CMD…: runs CMD every 0.2 s until it succeeds; fails after SECONDS.
poll() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

summary=()
row() { summary+=("$(printf '  %-18s %10s %8s %7s %11s %16s %13s' "$@")"); }
mem256_topic="" mem256_records=0

# backlog SCENARIO RECORDS PARTITIONS SIZE SINKS: fills a topic, then RUNS runs of kcat and
# every worker into every sink.
backlog() {
	local sc=$1 records=$2 partitions=$3 size=$4 scsinks=$5 topic lines bytes
	topic=bench.$sc.$(date +%s)
	topics+=("$topic" "$topic.dlq")
	if [[ $sc == small || $sc == large ]]; then
		local data=$repo/.cache/bench-$records-$users-$size.jsonl
		[[ -f $data ]] || "$bin/gen" -n "$records" -users "$users" -seed 7 -size "$size" >"$data"
		lines=$(wc -l <"$data")
		bytes=$(($(wc -c <"$data") - lines)) # the records' values: the file without its newlines
		"$bin/profile-ingest" publish --brokers "$brokers" --topic "$topic" --partitions "$partitions" --allow-invalid "$data"
	else
		"$bin/load" -brokers "$brokers" -topic "$topic" -partitions "$partitions" -n "$records" -size "$size" -users "$users" >"$tmp/load"
		lines=$(field published "$tmp/load") bytes=$(field bytes "$tmp/load")
		echo "published $lines records to $topic in $(field seconds "$tmp/load") s"
	fi
	if [[ $sc == mem256 ]]; then mem256_topic=$topic mem256_records=$lines; fi
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
			for s in $scsinks; do
				k=${w%%=*}" -> $s" at=$(sink_addr "$s")
				curl -fsS -X POST "http://$at/_sim/reset" >/dev/null
				line=$("$bin/measure" -o "$tmp/worker" -- "${w#*=}" run --brokers "$brokers" --topics "$topic" \
					--group "bench-$topic-${w%%=*}-$s-$i" --base-url "http://$at/" --workspace-key WSKEY_bench --listen "" \
					--log-level error --max-in-flight "${MAX_IN_FLIGHT:-4}" --commit-interval 100ms --stop-at-end | tail -n 1)
				ww=$(field wall_s "$tmp/worker")
				reqs=$(jfield requests "$(curl -fsS "http://$at/_sim/stats")")
				val[$k,rps]+=" $(calc %.0f "$lines/$ww")" val[$k,mbs]+=" $(calc %.1f "$bytes/$ww/1e6")"
				val[$k,ratio]+=" $(calc %.3f "$kw/$ww")"
				val[$k,cpu]+=" $(calc %.2f "$(field cpu_s "$tmp/worker")*1e6/$lines")"
				val[$k,rss]+=" $(calc %.0f "$(field maxrss_kib "$tmp/worker")/1024")"
				val[$k,req]+=" $(calc %.5f "$reqs/$lines")"
				echo "  run $i $k: $(cat "$tmp/worker") requests=$reqs; $line"
			done
		done
	done
	summary+=("" "scenario $sc: $lines records, ~$((bytes / lines)) B each, $partitions partitions; medians of $runs runs")
	row "" records/s MB/s ratio "CPU µs/rec" "RSS MiB (bound)" requests/rec
	# shellcheck disable=SC2086 # the values are space-separated lists
	row "kcat (raw drain)" "$(median ${val[kcat,rps]})" "$(median ${val[kcat,mbs]})" 1 "$(median ${val[kcat,cpu]})" "$(median ${val[kcat,rss]})" -
	for w in "${workers[@]}"; do
		for s in $scsinks; do
			k=${w%%=*}" -> $s"
			# shellcheck disable=SC2086
			rss=$(median ${val[$k,rss]})
			over=""
			((rss <= bound_mib)) || over=" OVER"
			# shellcheck disable=SC2086
			row "$k" "$(median ${val[$k,rps]})" "$(median ${val[$k,mbs]})" "$(median ${val[$k,ratio]})" "$(median ${val[$k,cpu]})" "$rss ($bound_mib)$over" "$(median ${val[$k,req]})"
		done
	done
	unset val
}

# bento_config TOPIC GROUP: Bento's pipeline for the latency case, as close to the worker's
# defaults as Bento's components go.
bento_config() {
	cat <<EOF
http:
  address: $bento_addr
logger:
  level: ERROR
metrics:
  none: {}
input:
  kafka_franz:
    seed_brokers: [ "$brokers" ]
    topics: [ "$1" ]
    consumer_group: "$2"
    start_from_oldest: true
pipeline:
  processors:
    - mapping: |
        root = this
        root."\$time" = @kafka_timestamp_unix_ms
output:
  http_client:
    url: http://$lat_addr/event/
    verb: POST
    headers:
      Content-Type: application/json
    batching:
      count: 400
      period: ${linger_ms}ms
      processors:
        - archive:
            format: json_array
EOF
}

# latency_run NAME BIN RATE PARTITIONS RUN: one consumer live on a fresh topic at a steady rate;
# appends its figures to lat[NAME,…].
latency_run() {
	local name=$1 cbin=$2 rate=$3 parts=$4 i=$5 topic group cpid ready published from
	topic=bench.lat.$rate.$parts.$name.$i.$(date +%s)
	group=bench-$topic
	topics+=("$topic" "$topic.dlq")
	"$bin/load" -brokers "$brokers" -topic "$topic" -partitions "$parts"
	curl -fsS -X POST "http://$lat_addr/_sim/reset" >/dev/null
	if [[ $name == bento ]]; then
		bento_config "$topic" "$group" >"$tmp/bento.yaml"
		"$bin/measure" -o "$tmp/lat" -- "$cbin" -c "$tmp/bento.yaml" >"$repo/.cache/bench-lat-bento.log" 2>&1 &
		ready=http://$bento_addr/ready
	else
		"$bin/measure" -o "$tmp/lat" -- "$cbin" run --brokers "$brokers" --topics "$topic" --group "$group" \
			--base-url "http://$lat_addr/" --workspace-key WSKEY_bench --listen "$worker_listen" \
			--log-level error >"$repo/.cache/bench-lat-$name.log" 2>&1 &
		ready=http://$worker_listen/readyz
	fi
	cpid=$!
	pids+=("$cpid")
	poll 60 curl -fsS -o /dev/null "$ready" 2>/dev/null || { echo "bench: $name did not become ready; see .cache/bench-lat-$name.log" >&2; exit 1; }
	from=$(($(date +%s%3N) + ${LATENCY_WARMUP:-5} * 1000))
	curl -fsS -X POST "http://$lat_addr/_sim/latency" \
		-d "{\"from_ms\":$from,\"until_ms\":$((from + ${LATENCY_SECONDS:-20} * 1000))}" >/dev/null
	"$bin/load" -brokers "$brokers" -topic "$topic" -rate "$rate" -users "$users" \
		-duration "$((${LATENCY_WARMUP:-5} + ${LATENCY_SECONDS:-20}))s" >"$tmp/load"
	published=$(field published "$tmp/load")
	seen() { [[ $(jfield seen "$(curl -fsS "http://$lat_addr/_sim/latency")") == "$published" ]]; }
	poll 120 seen || echo "bench: $name: the sink saw $(jfield seen "$(curl -fsS "http://$lat_addr/_sim/latency")") of $published events within 120 s after the last write" >&2
	kill -TERM "$cpid"
	wait "$cpid" || true
	local l
	l=$(curl -fsS "http://$lat_addr/_sim/latency")
	echo "  $rate rec/s, $parts partitions, run $i, $name: $(cat "$tmp/lat") published=$published; sink: $l"
	lat[$name,p50]+=" $(jfield p50_ms "$l")" lat[$name,p99]+=" $(jfield p99_ms "$l")"
	lat[$name,rps]+=" $(calc %.1f "$(jfield requests "$l")/${LATENCY_SECONDS:-20}")"
	lat[$name,cpu]+=" $(calc %.2f "$(field cpu_s "$tmp/lat")*1e6/$published")"
	lat[$name,rss]+=" $(calc %.0f "$(field maxrss_kib "$tmp/lat")/1024")"
}

latency() {
	local goal=$((linger_ms + 150)) consumers=("${workers[@]}")
	[[ -n $bento_note ]] || consumers+=("bento=$bento")
	summary+=("" "latency: a steady rate for ${LATENCY_SECONDS:-20} s after ${LATENCY_WARMUP:-5} s of warm-up, into the accept-all sink; produce → sink per event; medians of ${LATENCY_RUNS:-1} runs")
	summary+=("$(printf '  %-20s %-8s %7s %7s %6s %11s %8s %7s %11s %8s' case consumer "p50 ms" "p99 ms" goal requests/s "min/s" "× min" "CPU µs/rec" "RSS MiB")")
	for rate in ${LATENCY_RATES:-2000 10000}; do
		for parts in ${LATENCY_PARTITIONS:-8 64}; do
			declare -A lat=()
			for i in $(seq 1 "${LATENCY_RUNS:-1}"); do
				for c in "${consumers[@]}"; do latency_run "${c%%=*}" "${c#*=}" "$rate" "$parts" "$i"; done
			done
			local minrps
			minrps=$(calc %.1f "$rate/($rate*$linger_ms/1000 < 400 ? $rate*$linger_ms/1000 : 400)")
			for c in "${consumers[@]}"; do
				local n=${c%%=*} p99 rps
				# shellcheck disable=SC2086
				p99=$(median ${lat[$n,p99]}) rps=$(median ${lat[$n,rps]})
				# shellcheck disable=SC2086
				summary+=("$(printf '  %-20s %-8s %7s %7s %6s %11s %8s %7s %11s %8s' "$rate rec/s, $parts part." "$n" \
					"$(median ${lat[$n,p50]})" "$p99" "≤$goal" "$rps" "$minrps" "$(calc %.2f "$rps/$minrps")" \
					"$(median ${lat[$n,cpu]})" "$(median ${lat[$n,rss]})")")
			done
			unset lat
			drop_topics
		done
	done
	[[ -z $bento_note ]] || summary+=("  bento: $bento_note")
}

image() {
	local memory=${IMAGE_MEMORY:-160m} rt name code oom seen l
	source "$repo/deploy/image/lib.sh"
	[[ -e /etc/containers/containers.conf || -n ${CONTAINERS_CONF:-} ]] || export CONTAINERS_CONF=$repo/deploy/image/containers.conf
	summary+=("" "image: the worker's image under --memory $memory drains the mem256 topic into the accept-all sink (--stop-at-end)")
	if ! rt=$(container_runtime 2>"$tmp/rt"); then
		summary+=("  SKIP: no container runtime works here: $(tr '\n' ';' <"$tmp/rt")")
		return
	fi
	topics+=("${kept[@]}") # dropped after this scenario
	kept=()
	if [[ -z $mem256_topic ]]; then
		mem256_topic=bench.mem256.$(date +%s)
		topics+=("$mem256_topic" "$mem256_topic.dlq")
		"$bin/load" -brokers "$brokers" -topic "$mem256_topic" -partitions 256 -n "${MEM256_RECORDS:-40000}" -size 8000 -users "$users" >"$tmp/load"
		mem256_records=$(field published "$tmp/load")
	fi
	IMAGE=${IMAGE:-profile-ingest:bench} "$repo/deploy/image/build.sh" >/dev/null
	name=profile-ingest-bench-$$
	curl -fsS -X POST "http://$lat_addr/_sim/reset" >/dev/null
	local began=$SECONDS
	# shellcheck disable=SC2046
	# --timeout: a worker that cannot finish (a topic gone, a broker down) is killed, not waited on.
	"$rt" run --name "$name" $(run_flags "$rt") --network host --read-only --memory "$memory" --timeout 600 \
		--security-opt no-new-privileges --cap-drop ALL -e SUPRSEND_WORKSPACE_SECRET \
		-e KAFKA_BROKERS="$brokers" -e PROFILE_INGEST_TOPICS="$mem256_topic" -e PROFILE_INGEST_GROUP="bench-image-$$" \
		-e SUPRSEND_BASE_URL="http://$lat_addr/" -e SUPRSEND_WORKSPACE_KEY=WSKEY_bench \
		"${IMAGE:-profile-ingest:bench}" run --listen "" --log-level error --stop-at-end >"$tmp/image.out" 2>&1 || true
	code=$("$rt" inspect -f '{{.State.ExitCode}}' "$name") oom=$("$rt" inspect -f '{{.State.OOMKilled}}' "$name")
	[[ $code != 137 ]] || oom="$oom (exit 137: SIGKILL, the OOM killer; runc on cgroup v1 does not always report it)"
	"$rt" rm "$name" >/dev/null
	seen=$(jfield seen "$(curl -fsS "http://$lat_addr/_sim/latency")")
	echo "  image: exit $code, OOM-killed $oom, $seen of $mem256_records records delivered in $((SECONDS - began)) s; $(tail -n 1 "$tmp/image.out")"
	summary+=("  exit code $code, OOM-killed: $oom, records delivered $seen of $mem256_records published, $((SECONDS - began)) s; the worker: $(tail -n 1 "$tmp/image.out")")
}

for sc in $scenarios; do
	case $sc in
	small) backlog small "${SMALL_RECORDS:-${RECORDS:-200000}}" "${SMALL_PARTITIONS:-${PARTITIONS:-8}}" 0 "$sinks" ;;
	large) backlog large "${LARGE_RECORDS:-60000}" "${LARGE_PARTITIONS:-128}" 8000 "$sinks" ;;
	mem256) backlog mem256 "${MEM256_RECORDS:-40000}" 256 8000 "$mem_sinks" ;;
	mem1024) backlog mem1024 "${MEM1024_RECORDS:-100000}" 1024 0 "$mem_sinks" ;;
	huge) backlog huge "${HUGE_RECORDS:-300}" 16 "${HUGE_SIZE:-900000}" "$mem_sinks" ;;
	latency) latency ;;
	image) image ;;
	*) echo "bench: SCENARIOS: unknown scenario $sc (small large mem256 mem1024 huge latency image)" >&2; exit 2 ;;
	esac
	# The image scenario reuses mem256's topic: keep it until then.
	if [[ $sc == mem256 && " $scenarios " == *" image "* ]]; then kept=("${topics[@]}") topics=(); fi
	drop_topics
done
printf '%s\n' "${summary[@]}"
