#!/usr/bin/env bash
# Runs a real single-node Apache Kafka 4.x (KRaft, broker+controller) on 127.0.0.1 for
# development and tests. The broker's jars come from Maven Central through deploy/kafka/pom.xml
# and are cached under .cache/kafka/ (git-ignored): the first start downloads, later starts reuse.
#
#   deploy/kafka/kafka.sh up       start (download once, format storage once, wait until ready)
#   deploy/kafka/kafka.sh down     stop the broker this script started, by its recorded pid
#   deploy/kafka/kafka.sh status   exit 0 when the broker started here is running
#   deploy/kafka/kafka.sh with CMD start if not running, run CMD, stop only if this call started it
#   deploy/kafka/kafka.sh clean    stop and delete the data (the download cache stays)
#   deploy/kafka/kafka.sh fetch    download the jars only
#
# Listeners: PLAINTEXT on KAFKA_PORT; SASL_PLAINTEXT on KAFKA_SASL_PORT with PLAIN (one user,
# dev / dev-password: a local test credential, never a real one) and SCRAM-SHA-256/512 (users are
# added through the Admin API, as the SASL tests do); SSL on KAFKA_TLS_PORT, and SSL that requires
# a client certificate (mutual TLS) on KAFKA_MTLS_PORT, with certificates for 127.0.0.1 signed by
# a private test CA that deploy/kafka/certs makes at the first start (<run>/tls: ca.pem,
# client.pem, client.key). `with` exports KAFKA_BROKERS, KAFKA_SASL_BROKERS, KAFKA_TLS_BROKERS,
# KAFKA_MTLS_BROKERS, KAFKA_TLS_CA_FILE, KAFKA_TLS_CLIENT_CERT and KAFKA_TLS_CLIENT_KEY.
#
# Environment: KAFKA_PORT (default 9092), KAFKA_CONTROLLER_PORT (default KAFKA_PORT+1),
# KAFKA_SASL_PORT (default KAFKA_PORT+2), KAFKA_TLS_PORT (default KAFKA_PORT+3),
# KAFKA_MTLS_PORT (default KAFKA_PORT+4),
# KAFKA_HEAP_OPTS (default -Xms256m -Xmx512m), KAFKA_READY_TIMEOUT seconds (default 90),
# PROFILE_INGEST_CACHE (default <repo>/.cache), JAVA (default java on PATH).
#
# A three-node cluster (or N nodes, 2..9): KAFKA_NODES=3 deploy/kafka/kafka.sh up. Node i (1..N)
# is broker and controller (node.id i, a static quorum of N voters) with PLAINTEXT on
# KAFKA_PORT+2(i-1) and its controller on the port after it; there are no SASL/TLS listeners.
# Topics get replication factor min(3,N) and min.insync.replicas 2 by default, the offsets and
# transaction-state topics too. Data and logs go under <cache>/kafka/cluster-KAFKA_PORT/node-i.
# up, down, status, clean and with act on every node; `with` exports KAFKA_BROKERS and
# KAFKA_CLUSTER_BROKERS (every node), KAFKA_CLUSTER_PORT and KAFKA_CLUSTER_NODES. One node at a time:
#   KAFKA_NODES=3 deploy/kafka/kafka.sh stop-node I    SIGTERM (controlled shutdown), wait for exit
#   KAFKA_NODES=3 deploy/kafka/kafka.sh kill-node I    SIGKILL, as a crash
#   KAFKA_NODES=3 deploy/kafka/kafka.sh start-node I   start it again and wait until it serves
#   KAFKA_NODES=3 deploy/kafka/kafka.sh quorum-leader  print the node id of the controller quorum's
#                                                      leader (from the running nodes' quorum-state)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
port=${KAFKA_PORT:-9092}
cport=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
sport=${KAFKA_SASL_PORT:-$((port + 2))}
tport=${KAFKA_TLS_PORT:-$((port + 3))}
mport=${KAFKA_MTLS_PORT:-$((port + 4))}
cache=${PROFILE_INGEST_CACHE:-$repo/.cache}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
libs=$cache/kafka/$version/libs
run=$cache/kafka/run-$port
pidfile=$run/kafka.pid
log=$run/kafka.log
java=${JAVA:-java}
nodes=${KAFKA_NODES:-1}
[[ $nodes =~ ^[1-9]$ ]] || { printf 'kafka.sh: KAFKA_NODES %q: use a number from 1 to 9\n' "$nodes" >&2; exit 2; }

say() { printf 'kafka.sh: %s\n' "$*" >&2; }

fetch() { "$repo/deploy/mvnfetch.sh" "$here/pom.xml" "$libs" "Apache Kafka $version and its dependencies"; }

# running: the recorded pid is alive and is the broker this script started with this config.
running() {
	[[ -f $pidfile ]] || return 1
	local pid
	pid=$(<"$pidfile")
	[[ -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "kafka.Kafka $run/server.properties"
}

# make_tls makes, once per run directory, the test CA and the broker's and a client's
# certificates (deploy/kafka/certs).
make_tls() {
	[[ -f $run/tls/ca.pem && -f $run/tls/broker-keystore.pem ]] && return 0
	rm -rf "$run/tls"
	(cd "$repo" && go run ./deploy/kafka/certs -dir "$run/tls") ||
		{ say "could not make the test certificates"; exit 1; }
}

write_config() {
	mkdir -p "$run/data"
	make_tls
	cat >"$run/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport,SASL_PLAINTEXT://127.0.0.1:$sport,SSL://127.0.0.1:$tport,MTLS://127.0.0.1:$mport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sport,SSL://127.0.0.1:$tport,MTLS://127.0.0.1:$mport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,MTLS:SSL
ssl.keystore.type=PEM
ssl.keystore.location=$run/tls/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$run/tls/ca.pem
ssl.client.auth=none
listener.name.mtls.ssl.client.auth=required
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_dev="dev-password";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
PROPS
	storage_props 1 1 >>"$run/server.properties"
	write_log4j >"$run/log4j2.properties"
}

# storage_props RF MIN_ISR prints the settings of data, topics and groups that the single node
# (RF 1, MIN_ISR 1: Kafka's defaults) and the cluster's nodes share. The log cleaner's dedupe
# buffer is 16 MiB instead of 128: it is allocated on the heap (512 MiB here) each time the
# cleaner starts, and a dynamic cleaner setting restarts it (the compacted-topic tests set and
# restore log.cleaner.backoff.ms), so with 128 MiB the broker could run out of heap and exit.
storage_props() {
	cat <<PROPS
log.dirs=$run/data
num.partitions=1
default.replication.factor=$1
min.insync.replicas=$2
unclean.leader.election.enable=false
auto.create.topics.enable=false
offsets.topic.replication.factor=$1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$1
transaction.state.log.min.isr=$2
share.coordinator.state.topic.replication.factor=$1
share.coordinator.state.topic.min.isr=$2
group.initial.rebalance.delay.ms=0
group.consumer.min.session.timeout.ms=1000
group.min.session.timeout.ms=1000
log.retention.hours=24
log.cleaner.dedupe.buffer.size=16777216
PROPS
}

# write_log4j prints the broker's log4j configuration: warnings and up, into $log.
write_log4j() {
	cat <<PROPS
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
PROPS
}

jvm_opts() {
	# shellcheck disable=SC2206
	jvm=(${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
		-Dlog4j2.configurationFile="$run/log4j2.properties" -cp "$libs/*")
}

up() {
	if running; then
		say "already running on 127.0.0.1:$port (pid $(<"$pidfile"))"
		return 0
	fi
	if port_taken "$port" || port_taken "$cport" || port_taken "$sport" || port_taken "$tport" || port_taken "$mport"; then
		say "127.0.0.1:$port, :$cport, :$sport, :$tport or :$mport is taken by a process this script did not start (see $run);"
		say "stop it, or choose other ports with KAFKA_PORT (and KAFKA_CONTROLLER_PORT, KAFKA_SASL_PORT, KAFKA_TLS_PORT, KAFKA_MTLS_PORT)"
		exit 1
	fi
	command -v "$java" >/dev/null || { say "java not found: Kafka $version needs Java 17 or newer"; exit 1; }
	fetch
	write_config
	build_ready
	launch "Kafka $version" --standalone
	wait_ready
}

# launch WHAT [FORMAT-ARGS...] formats the storage of $run once (with FORMAT-ARGS), then starts
# the broker of $run/server.properties in the background, its pid in $pidfile.
launch() {
	local what=$1
	shift
	jvm_opts
	if [[ ! -f $run/data/meta.properties ]]; then
		"$java" "${jvm[@]}" kafka.tools.StorageTool format "$@" -t "$(cluster_id)" \
			-c "$run/server.properties" >>"$log" 2>&1 ||
			{ say "formatting storage failed; last lines of $log:"; tail -n 30 "$log" >&2; exit 1; }
	fi
	say "starting $what on 127.0.0.1:$port (log: $log)"
	# setsid: the broker outlives this script and ignores signals sent to the caller's group.
	# The shell records its own pid and then becomes the JVM, so the pid file names the broker
	# whether or not setsid had to fork.
	rm -f "$pidfile"
	setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$java" "${jvm[@]}" \
		kafka.Kafka "$run/server.properties" >>"$log" 2>&1 </dev/null &
	disown # a node killed later is none of this shell's business
	# Until the shell has become the JVM, `running` would read it as a broker that exited: wait
	# for the exec (up to 30 s on a loaded machine), or for the process to be gone.
	local pid
	for _ in $(seq 1 300); do
		running && break
		if [[ -s $pidfile ]]; then
			pid=$(<"$pidfile")
			[[ -r /proc/$pid/cmdline ]] || break
		fi
		sleep 0.1
	done
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# cluster_id is a fixed, valid KRaft cluster id per KAFKA_PORT (every node of a cluster shares
# it): 16 bytes, url-safe base64 without padding.
cluster_id() {
	printf 'profile-ingest%02d' "$((${KAFKA_PORT:-9092} % 100))" | base64 | tr '+/' '-_' | tr -d '=\n'
}

# build_ready compiles the readiness probe (a kafka-go metadata request) once per change.
build_ready() {
	command -v go >/dev/null || { say "go not found: the readiness probe is a Go program"; exit 1; }
	(cd "$repo" && go build -o "$cache/bin/kafka-ready" ./deploy/kafka/ready)
}

wait_ready() {
	local deadline=$((SECONDS + ${KAFKA_READY_TIMEOUT:-90}))
	while ((SECONDS < deadline)); do
		if ! running; then
			say "the broker exited during start-up; last lines of $log:"
			tail -n 40 "$log" >&2
			rm -f "$pidfile"
			exit 1
		fi
		if "$cache/bin/kafka-ready" "127.0.0.1:$port" 2>/dev/null; then
			say "ready on 127.0.0.1:$port (SASL_PLAINTEXT on :$sport, SSL on :$tport, mutual TLS on :$mport)"
			return 0
		fi
		sleep 1
	done
	say "not ready within ${KAFKA_READY_TIMEOUT:-90}s; last lines of $log:"
	tail -n 40 "$log" >&2
	say "full log: $log"
	exit 1
}

down() { stop TERM "127.0.0.1:$port"; }

# stop SIGNAL WHAT sends SIGNAL to the broker of $pidfile and waits for it to exit (SIGKILL
# after 30 s).
stop() {
	if ! running; then
		rm -f "$pidfile"
		say "not running: $2"
		return 0
	fi
	local pid
	pid=$(<"$pidfile")
	kill "-$1" "$pid"
	for _ in $(seq 1 60); do
		running || break
		sleep 0.5
	done
	if running; then
		say "broker $pid did not stop in 30s; killing it"
		kill -KILL "$pid"
		sleep 1
	fi
	rm -f "$pidfile"
	say "stopped ($1): $2"
}

with() {
	local started=0 rc=0
	if ! running; then
		up
		started=1
	fi
	export KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:$port}
	export KAFKA_SASL_BROKERS=${KAFKA_SASL_BROKERS:-127.0.0.1:$sport}
	export KAFKA_TLS_BROKERS=${KAFKA_TLS_BROKERS:-127.0.0.1:$tport} KAFKA_MTLS_BROKERS=${KAFKA_MTLS_BROKERS:-127.0.0.1:$mport}
	export KAFKA_TLS_CA_FILE=${KAFKA_TLS_CA_FILE:-$run/tls/ca.pem}
	export KAFKA_TLS_CLIENT_CERT=${KAFKA_TLS_CLIENT_CERT:-$run/tls/client.pem} KAFKA_TLS_CLIENT_KEY=${KAFKA_TLS_CLIENT_KEY:-$run/tls/client.key}
	"$@" || rc=$?
	if ((started)); then down; fi
	return "$rc"
}

# ---- cluster mode (KAFKA_NODES > 1) ----

crun=$cache/kafka/cluster-$port

# node I points port, cport, run, pidfile and log at node I of the cluster.
node() {
	[[ $1 =~ ^[1-9]$ ]] && (($1 <= nodes)) || { say "node $1: use a number from 1 to $nodes"; exit 2; }
	port=$((${KAFKA_PORT:-9092} + 2 * ($1 - 1)))
	cport=$((port + 1))
	run=$crun/node-$1
	pidfile=$run/kafka.pid
	log=$run/kafka.log
}

cluster_brokers() {
	local i out=()
	for ((i = 1; i <= nodes; i++)); do out+=("127.0.0.1:$((${KAFKA_PORT:-9092} + 2 * (i - 1)))"); done
	(IFS=,; echo "${out[*]}")
}

write_node_config() {
	local i=$1 j voters=() rf=$((nodes < 3 ? nodes : 3))
	for ((j = 1; j <= nodes; j++)); do voters+=("$j@127.0.0.1:$((${KAFKA_PORT:-9092} + 2 * (j - 1) + 1))"); done
	mkdir -p "$run/data"
	cat >"$run/server.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$(IFS=,; echo "${voters[*]}")
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
PROPS
	storage_props "$rf" 2 >>"$run/server.properties"
	write_log4j >"$run/log4j2.properties"
}

# start_node I starts node I unless it runs (formatting its storage once) without waiting.
start_node() {
	node "$1"
	if running; then return 0; fi
	if port_taken "$port" || port_taken "$cport"; then
		say "127.0.0.1:$port or :$cport (node $1) is taken by a process this script did not start; choose another KAFKA_PORT"
		exit 1
	fi
	write_node_config "$1"
	launch "node $1 of $nodes"
}

# wait_node I [BROKERS] waits until node I serves metadata naming at least BROKERS brokers.
wait_node() {
	node "$1"
	local deadline=$((SECONDS + ${KAFKA_READY_TIMEOUT:-90}))
	while ((SECONDS < deadline)); do
		if ! running; then
			say "node $1 exited during start-up; last lines of $log:"
			tail -n 40 "$log" >&2
			rm -f "$pidfile"
			exit 1
		fi
		if "$cache/bin/kafka-ready" "127.0.0.1:$port" "${2:-1}" 2>/dev/null; then
			say "node $1 ready on 127.0.0.1:$port"
			return 0
		fi
		sleep 1
	done
	say "node $1 not ready within ${KAFKA_READY_TIMEOUT:-90}s; last lines of $log:"
	tail -n 40 "$log" >&2
	exit 1
}

cluster_prepare() {
	command -v "$java" >/dev/null || { say "java not found: Kafka $version needs Java 17 or newer"; exit 1; }
	fetch
	build_ready
	# Three JVMs share the machine: a smaller heap each unless KAFKA_HEAP_OPTS says otherwise.
	: "${KAFKA_HEAP_OPTS:=-Xms128m -Xmx384m}"
}

cluster_up() {
	cluster_prepare
	local i
	for ((i = 1; i <= nodes; i++)); do start_node "$i"; done
	for ((i = 1; i <= nodes; i++)); do wait_node "$i" "$nodes"; done
	say "cluster of $nodes ready: $(cluster_brokers)"
}

# stop_node I SIGNAL stops node I with SIGNAL (TERM waits up to 30s, then KILL).
stop_node() {
	node "$1"
	stop "$2" "node $1"
}

cluster_down() {
	local i
	for ((i = 1; i <= nodes; i++)); do stop_node "$i" TERM & done
	wait
}

cluster_status() {
	local i
	for ((i = 1; i <= nodes; i++)); do node "$i"; running || return 1; done
}

# quorum_leader prints the leader id of the highest epoch in the running nodes' quorum-state files.
quorum_leader() {
	local i best=-1 epoch=-1 st id ep
	for ((i = 1; i <= nodes; i++)); do
		node "$i"
		running || continue
		st=$(cat "$run/data/__cluster_metadata-0/quorum-state" 2>/dev/null) || continue
		id=$(sed -n 's/.*"leaderId":\(-\{0,1\}[0-9]*\).*/\1/p' <<<"$st")
		ep=$(sed -n 's/.*"leaderEpoch":\([0-9]*\).*/\1/p' <<<"$st")
		if [[ -n $id && -n $ep ]] && ((ep > epoch && id > 0)); then best=$id epoch=$ep; fi
	done
	((best > 0)) || { say "no quorum leader known"; exit 1; }
	echo "$best"
}

cluster_with() {
	local started=0 rc=0
	if ! cluster_status; then
		cluster_up
		started=1
	fi
	export KAFKA_CLUSTER_BROKERS KAFKA_CLUSTER_PORT=${KAFKA_PORT:-9092} KAFKA_CLUSTER_NODES=$nodes
	KAFKA_CLUSTER_BROKERS=$(cluster_brokers)
	export KAFKA_BROKERS=${KAFKA_BROKERS:-$KAFKA_CLUSTER_BROKERS}
	"$@" || rc=$?
	if ((started)); then cluster_down; fi
	return "$rc"
}

if ((nodes > 1)); then
	case ${1:-} in
		up) cluster_up ;;
		down) cluster_down ;;
		status) cluster_status ;;
		fetch) fetch ;;
		clean) cluster_down; rm -rf "$crun" ;;
		with) shift; [[ $# -gt 0 ]] || { say "usage: kafka.sh with CMD [ARGS...]"; exit 2; }; cluster_with "$@" ;;
		start-node) [[ $# -eq 2 ]] || { say "usage: kafka.sh start-node I"; exit 2; }; cluster_prepare; start_node "$2"; wait_node "$2" ;;
		stop-node) [[ $# -eq 2 ]] || { say "usage: kafka.sh stop-node I"; exit 2; }; stop_node "$2" TERM ;;
		kill-node) [[ $# -eq 2 ]] || { say "usage: kafka.sh kill-node I"; exit 2; }; stop_node "$2" KILL ;;
		quorum-leader) quorum_leader ;;
		*) sed -n '2,39p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
	exit
fi

case ${1:-} in
	up) up ;;
	down) down ;;
	status) running ;;
	fetch) fetch ;;
	clean) down; rm -rf "$run" ;;
	with) shift; [[ $# -gt 0 ]] || { say "usage: kafka.sh with CMD [ARGS...]"; exit 2; }; with "$@" ;;
	*) sed -n '2,39p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
