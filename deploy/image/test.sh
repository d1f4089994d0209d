#!/usr/bin/env bash
# `make test-image`: builds the image (build.sh) and runs it as production would, then checks it
# from outside the container:
#   1. on the host network against the local Kafka (KAFKA_BROKERS, else 127.0.0.1:KAFKA_PORT) and
#      hubsim, with --read-only, --memory 256m, the image's non-root user and the workspace secret
#      as a read-only mounted file: it delivers deploy/demo/sample-history.jsonl; /readyz answers
#      200, /metrics counts every record consumed and resolved (delivered or dead-lettered) and
#      names the build; the dead letters name the build; SIGTERM stops it with exit 0.
#   2. the image's defaults: user 65532, PROFILE_INGEST_CONFIG naming its config, which listens
#      on 0.0.0.0:9464, the address kubelet probes and Prometheus reach.
#   3. memory under a hard limit (issue 12 §1): a backlog of MEMORY_TEST_RECORDS (40000) records
#      of 8 KB over 256 partitions, five times the default 64 MiB in-flight budget, drained
#      with --stop-at-end under --memory MEMORY_TEST_LIMIT (160m, above the README's bound of
#      max_in_flight_bytes + 64 MiB): the worker exits 0, is not OOM-killed, and hubsim applied
#      every record. (A reader per partition, before the fetch loop, needed over 250 MiB here.)
# It prints "SKIP: …" and exits 0 only when no container runtime works here.
# Environment: IMAGE (profile-ingest:test), MEMORY (256m), MEMORY_TEST_LIMIT (160m),
# MEMORY_TEST_RECORDS (40000, 0 skips step 3), CONTAINER_RUNTIME.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
source "$here/lib.sh"

if ! rt=$(container_runtime 2>/tmp/image-test-runtime.$$); then
	echo "SKIP: test-image: no container runtime works on this machine: $(tr '\n' ';' </tmp/image-test-runtime.$$)"
	rm -f /tmp/image-test-runtime.$$
	exit 0
fi
rm -f /tmp/image-test-runtime.$$
export IMAGE=${IMAGE:-profile-ingest:test}
memory=${MEMORY:-256m}
brokers=${KAFKA_BROKERS:-127.0.0.1:${KAFKA_PORT:-9092}}
brokers=${brokers%%,*}
sample=$repo/deploy/demo/sample-history.jsonl
want=$(wc -l <"$sample")
work=$(mktemp -d)
run_id=$(date +%Y%m%d%H%M%S)-$$
name=profile-ingest-test-$run_id
topic=image-test.$run_id
key=WSKEY_image
secret="WSSECRET_image_$RANDOM$RANDOM"
hubsim_pid=
fail() { echo "FAIL: test-image: $*" >&2; exit 1; }
say() { printf '== test-image: %s\n' "$*"; }
cleanup() {
	"$rt" rm -f -t 5 "$name" >/dev/null 2>&1 || true
	"$rt" rm -f -t 5 "$name-mem" >/dev/null 2>&1 || true
	[[ -n $hubsim_pid ]] && kill "$hubsim_pid" 2>/dev/null && wait "$hubsim_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# eventually SECONDS WHAT CMD…: polls CMD until it succeeds, or fails the test saying WHAT.
eventually() {
	local deadline=$((SECONDS + $1)) what=$2
	shift 2
	until "$@"; do
		((SECONDS < deadline)) || fail "timed out waiting until $what"
		sleep 0.5
	done
}
metric() { curl -fsS "http://$listen/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
metric_sum() { curl -fsS "http://$listen/metrics" | awk -v m="$1" 'index($1, m"{") == 1 || $1 == m { s += $2 } END { printf "%d\n", s }'; }

say "building the image with $rt"
"$here/build.sh"
go build -o "$work/" ./cmd/hubsim ./cmd/profile-ingest ./deploy/bench/load
ua=$("$repo/.cache/image/profile-ingest" version | sed -n 's/^user agent: //p')
commit=$(sed -n 's/.*buildinfo\.Commit=\([^ ]*\).*/\1/p' <<<"$("$here/ldflags.sh")")

hub=127.0.0.1:$(free_port)
HUBSIM_SECRET=$secret "$work/hubsim" --addr "$hub" --key "$key" >"$work/hubsim.log" 2>&1 &
hubsim_pid=$!
eventually 30 "hubsim answers on $hub" curl -fsS -o /dev/null "http://$hub/_sim/stats"

say "publishing $want sample mutations to $topic on $brokers"
"$work/profile-ingest" publish --brokers "$brokers" --topic "$topic" --partitions 4 --allow-invalid "$sample" >/dev/null

mkdir -p "$work/secrets" && printf '%s' "$secret" >"$work/secrets/workspace-secret"
chmod 0755 "$work" "$work/secrets" && chmod 0644 "$work/secrets/workspace-secret"
listen=127.0.0.1:$(free_port)
say "running $IMAGE: --read-only --memory $memory, host network, listening on $listen"
# shellcheck disable=SC2046
"$rt" run -d --name "$name" $(run_flags "$rt") --network host --read-only --memory "$memory" \
	--security-opt no-new-privileges --cap-drop ALL \
	-v "$work/secrets:/var/run/secrets/profile-ingest:ro" \
	-e KAFKA_BROKERS="$brokers" -e PROFILE_INGEST_TOPICS="$topic" -e PROFILE_INGEST_GROUP="image-$run_id" \
	-e SUPRSEND_BASE_URL="http://$hub/" -e SUPRSEND_WORKSPACE_KEY="$key" \
	"$IMAGE" run --secret-file /var/run/secrets/profile-ingest/workspace-secret --listen "$listen" >/dev/null
running() { [[ $("$rt" inspect -f '{{.State.Running}}' "$name") == true ]] || { "$rt" logs "$name" 2>&1 | tail -20; fail "the container stopped"; }; }

pid=$("$rt" inspect -f '{{.State.Pid}}' "$name")
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
[[ $uid == 65532 ]] || fail "the worker runs as uid $uid, want the image's non-root 65532"
# The kernel's limit on the container's cgroup: memory.limit_in_bytes (cgroup v1) or memory.max (v2).
memory_limit() {
	local v1 v2
	v1=$(awk -F: '$2 == "memory" { print $3 }' "/proc/$1/cgroup")
	v2=$(awk -F: '$1 == "0" { print $3 }' "/proc/$1/cgroup")
	if [[ -n $v1 ]]; then cat "/sys/fs/cgroup/memory$v1/memory.limit_in_bytes"; return; fi
	cat "/sys/fs/cgroup$v2/memory.max" 2>/dev/null || cat "/sys/fs/cgroup/unified$v2/memory.max"
}
limit=$(memory_limit "$pid" 2>/dev/null || echo unknown)
[[ $limit == $(numfmt --from=iec "${memory^^}") ]] || fail "the container's cgroup memory limit is $limit, want $memory"
say "the worker runs as uid $uid, its cgroup's memory limit is $limit bytes"

ready() { running && curl -fsS -o /dev/null "http://$listen/readyz"; }
eventually 120 "/readyz answers 200" ready
resolved() {
	running
	local consumed delivered dead
	consumed=$(metric profile_ingest_records_consumed_total)
	delivered=$(metric profile_ingest_records_delivered_total)
	dead=$(metric_sum profile_ingest_dlq_records_total)
	[[ ${consumed:-0} == "$want" && $((${delivered:-0} + dead)) == "$want" && $(metric_sum profile_ingest_records_in_flight) == 0 ]]
}
eventually 300 "every one of the $want records is consumed and delivered or dead-lettered" resolved
curl -fsS "http://$listen/readyz" >/dev/null || fail "/readyz does not answer 200 after the history was delivered"
# (Read whole, then matched: `cmd | grep -q` under pipefail fails when grep's early exit breaks cmd's pipe.)
metrics=$(curl -fsS "http://$listen/metrics")
grep -q "^profile_ingest_build_info{commit=\"$commit\"" <<<"$metrics" ||
	fail "/metrics has no profile_ingest_build_info for commit $commit"
delivered=$(metric profile_ingest_records_delivered_total)
dead=$(metric_sum profile_ingest_dlq_records_total)
say "/readyz 200; /metrics: $want consumed, $delivered delivered, $dead dead-lettered; build_info commit $commit"
((dead > 0 && delivered > 0)) || fail "want both deliveries and dead letters from the sample history"

"$work/profile-ingest" dlq inspect --brokers "$brokers" --topic "$topic.dlq" >"$work/dlq.json"
grep -q "\"worker_version\":\"$ua\"" "$work/dlq.json" || fail "the dead letters do not name the build: want worker_version $ua, got $(head -c 600 "$work/dlq.json")"
say "dead letters carry worker_version $ua"

"$rt" stop -t 60 "$name" >/dev/null
code=$("$rt" inspect -f '{{.State.ExitCode}}' "$name")
[[ $code == 0 ]] || { "$rt" logs "$name" 2>&1 | tail -20; fail "SIGTERM: the worker exited $code, want 0"; }
peak=$("$rt" logs "$name" 2>/dev/null | grep -i 'peak' | tail -1 || true)
say "SIGTERM: exit 0; ${peak:-no summary line}"

mem_records=${MEMORY_TEST_RECORDS:-40000}
mem_limit=${MEMORY_TEST_LIMIT:-160m}
if ((mem_records > 0)); then
	say "publishing $mem_records records of 8 KB to 256 partitions of $topic.mem"
	"$work/load" -brokers "$brokers" -topic "$topic.mem" -partitions 256 -n "$mem_records" -size 8000 >/dev/null
	curl -fsS -X POST "http://$hub/_sim/reset" >/dev/null
	say "draining it with --stop-at-end under --memory $mem_limit"
	# shellcheck disable=SC2046
	"$rt" run --name "$name-mem" $(run_flags "$rt") --network host --read-only --memory "$mem_limit" \
		--security-opt no-new-privileges --cap-drop ALL \
		-v "$work/secrets:/var/run/secrets/profile-ingest:ro" \
		-e KAFKA_BROKERS="$brokers" -e PROFILE_INGEST_TOPICS="$topic.mem" -e PROFILE_INGEST_GROUP="image-mem-$run_id" \
		-e SUPRSEND_BASE_URL="http://$hub/" -e SUPRSEND_WORKSPACE_KEY="$key" \
		"$IMAGE" run --secret-file /var/run/secrets/profile-ingest/workspace-secret --listen "" --stop-at-end >"$work/mem.out" 2>&1 || true
	oom=$("$rt" inspect -f '{{.State.OOMKilled}}' "$name-mem")
	code=$("$rt" inspect -f '{{.State.ExitCode}}' "$name-mem")
	[[ $oom == false ]] || fail "--memory $mem_limit: the worker was OOM-killed draining $mem_records records of 8 KB over 256 partitions (exit $code)"
	# runc on cgroup v1 does not always report OOMKilled: a SIGKILL (137) is the OOM killer too.
	[[ $code != 137 ]] || fail "--memory $mem_limit: the worker was killed (exit 137, SIGKILL: the OOM killer) draining $mem_records records of 8 KB over 256 partitions"
	[[ $code == 0 ]] || { tail -20 "$work/mem.out"; fail "--memory $mem_limit: the worker exited $code, want 0 (--stop-at-end)"; }
	applied=$(curl -fsS "http://$hub/_sim/stats" | sed -n 's/.*"events_applied":\([0-9]*\).*/\1/p')
	[[ $applied == "$mem_records" ]] || fail "--memory $mem_limit: hubsim applied $applied events, want $mem_records"
	say "--memory $mem_limit: exit 0, not OOM-killed, $applied of $mem_records records applied; $(tail -n 1 "$work/mem.out")"
fi

# The image's defaults, read from the image itself. (The run above loaded its config file too:
# PROFILE_INGEST_CONFIG names it and `run` refuses a missing one; --listen overrode its address,
# because on the host network 0.0.0.0:9464 would open the port on every interface of the machine.)
say "the image's defaults"
[[ $("$rt" image inspect -f '{{.Config.User}}' "$IMAGE") == 65532:65532 ]] || fail "the image's user is not 65532:65532"
env=$("$rt" image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE")
grep -qx 'PROFILE_INGEST_CONFIG=/etc/profile-ingest/config.yaml' <<<"$env" ||
	fail "the image does not set PROFILE_INGEST_CONFIG=/etc/profile-ingest/config.yaml"
cid=$("$rt" create "$IMAGE")
"$rt" cp "$cid:/etc/profile-ingest/config.yaml" "$work/image-config.yaml"
"$rt" rm "$cid" >/dev/null
grep -Eq '^  listen: 0\.0\.0\.0:9464$' "$work/image-config.yaml" ||
	fail "the image's config does not listen on 0.0.0.0:9464: $(cat "$work/image-config.yaml")"
say "user 65532:65532, PROFILE_INGEST_CONFIG=/etc/profile-ingest/config.yaml, observability.listen 0.0.0.0:9464"
echo "PASS: test-image"
