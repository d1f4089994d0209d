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
log.dirs=$run/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.consumer.min.session.timeout.ms=1000
group.min.session.timeout.ms=1000
log.retention.hours=24
PROPS
	cat >"$run/log4j2.properties" <<PROPS
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
	jvm_opts
	build_ready
	if [[ ! -f $run/data/meta.properties ]]; then
		"$java" "${jvm[@]}" kafka.tools.StorageTool format --standalone -t "$(cluster_id)" \
			-c "$run/server.properties" >>"$log" 2>&1 ||
			{ say "formatting storage failed; last lines of $log:"; tail -n 30 "$log" >&2; exit 1; }
	fi
	say "starting Kafka $version on 127.0.0.1:$port (log: $log)"
	# setsid: the broker outlives this script and ignores signals sent to the caller's group.
	# The shell records its own pid and then becomes the JVM, so the pid file names the broker
	# whether or not setsid had to fork.
	rm -f "$pidfile"
	setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$java" "${jvm[@]}" \
		kafka.Kafka "$run/server.properties" >>"$log" 2>&1 </dev/null &
	for _ in $(seq 1 50); do [[ -s $pidfile ]] && break; sleep 0.1; done
	wait_ready
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# cluster_id is a fixed, valid KRaft cluster id per port: 16 bytes, url-safe base64 without padding.
cluster_id() {
	printf 'profile-ingest%02d' "$((port % 100))" | base64 | tr '+/' '-_' | tr -d '=\n'
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

down() {
	if ! running; then
		rm -f "$pidfile"
		say "not running on 127.0.0.1:$port"
		return 0
	fi
	local pid
	pid=$(<"$pidfile")
	kill -TERM "$pid"
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
	say "stopped"
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

case ${1:-} in
	up) up ;;
	down) down ;;
	status) running ;;
	fetch) fetch ;;
	clean) down; rm -rf "$run" ;;
	with) shift; [[ $# -gt 0 ]] || { say "usage: kafka.sh with CMD [ARGS...]"; exit 2; }; with "$@" ;;
	*) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
