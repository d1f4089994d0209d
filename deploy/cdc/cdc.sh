#!/usr/bin/env bash
# Runs the systems a users table is synced from, for the Debezium end-to-end test and the demo:
# a throwaway PostgreSQL cluster (Debian's postgresql package, wal_level=logical) and Kafka
# Connect standalone with the Debezium PostgreSQL connector. Connect's and Debezium's jars come
# from Maven Central through deploy/cdc/pom.xml into the git-ignored cache, once. Everything
# binds to 127.0.0.1. It needs the local Kafka (deploy/kafka/kafka.sh) to be running.
#
#   deploy/cdc/cdc.sh up        start PostgreSQL and Connect (download once, initdb once)
#   deploy/cdc/cdc.sh down      stop what this script started, by the pids it recorded
#   deploy/cdc/cdc.sh with CMD  start, run CMD, stop only what this call started
#   deploy/cdc/cdc.sh clean     stop and delete the cluster and Connect's state
#   deploy/cdc/cdc.sh fetch     download the jars only
#
# `with` exports CDC_PG_PORT, CDC_PSQL (the psql binary), CDC_CONNECT_URL and CDC_RUN (the run
# directory). Connectors are added through Connect's REST API (PUT /connectors/NAME/config).
#
# Environment: KAFKA_PORT (the local broker, default 9092), CDC_PG_PORT (default 15432),
# CDC_CONNECT_PORT (default CDC_PG_PORT+1), CDC_PGROOT (the cluster's directory, default
# $TMPDIR/profile-ingest-cdc-<port>), PG_BIN (default /usr/lib/postgresql/15/bin),
# CONNECT_HEAP_OPTS, CDC_READY_TIMEOUT seconds (120), PROFILE_INGEST_CACHE (default
# <repo>/.cache), JAVA.
# PostgreSQL refuses to run as root: as root, the cluster runs as the user postgres.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
kport=${KAFKA_PORT:-9092}
pgport=${CDC_PG_PORT:-15432}
cport=${CDC_CONNECT_PORT:-$((pgport + 1))}
cache=${PROFILE_INGEST_CACHE:-$repo/.cache}
version=$(sed -n 's:.*<debezium.version>\(.*\)</debezium.version>.*:\1:p' "$here/pom.xml")
libs=$cache/cdc/$version/libs
run=$cache/cdc/run-$pgport
# The cluster lives outside the repository: as root it runs as postgres, which may not be able
# to enter the directories above the checkout.
pgroot=${CDC_PGROOT:-${TMPDIR:-/tmp}/profile-ingest-cdc-$pgport}
pgdata=$pgroot/pgdata
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
java=${JAVA:-java}

say() { printf 'cdc.sh: %s\n' "$*" >&2; }

# as_pg runs a command as the cluster's owner: postgres when we are root, else ourselves.
as_pg() {
	if [[ $(id -u) == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

fetch() { "$repo/deploy/mvnfetch.sh" "$here/pom.xml" "$libs" "Kafka Connect and Debezium $version"; }

pg_running() { [[ -f $pgdata/postmaster.pid ]] && as_pg "$pg_bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; }

pg_up() {
	[[ -x $pg_bin/initdb ]] || { say "$pg_bin/initdb not found: install PostgreSQL 15 (apt-get install postgresql)"; exit 1; }
	mkdir -p "$pgroot"
	if [[ $(id -u) == 0 ]]; then chown postgres "$pgroot"; fi
	if [[ ! -f $pgdata/PG_VERSION ]]; then
		as_pg "$pg_bin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 >"$pgroot/initdb.log" 2>&1 ||
			{ say "initdb failed:"; tail -n 20 "$pgroot/initdb.log" >&2; exit 1; }
		cat >>"$pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $pgport
unix_socket_directories = '$pgdata'
wal_level = logical
max_wal_senders = 4
max_replication_slots = 4
fsync = off
CONF
		printf 'host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n' >>"$pgdata/pg_hba.conf"
	fi
	if pg_running; then return 0; fi
	as_pg "$pg_bin/pg_ctl" -D "$pgdata" -l "$pgdata/postgres.log" -w -t 60 start >/dev/null ||
		{ say "PostgreSQL did not start; last lines of $pgdata/postgres.log:"; as_pg tail -n 20 "$pgdata/postgres.log" >&2; exit 1; }
	say "PostgreSQL ready on 127.0.0.1:$pgport (wal_level=logical)"
}

pg_down() {
	if pg_running; then
		as_pg "$pg_bin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null
		say "PostgreSQL stopped"
	fi
}

connect_running() { [[ -f $run/connect.pid ]] && kill -0 "$(<"$run/connect.pid")" 2>/dev/null; }

connect_up() {
	fetch
	if connect_running; then return 0; fi
	mkdir -p "$run"
	cat >"$run/worker.properties" <<PROPS
bootstrap.servers=127.0.0.1:$kport
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false
offset.storage.file.filename=$run/connect.offsets
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:$cport
rest.advertised.host.name=127.0.0.1
PROPS
	cat >"$run/log4j2.properties" <<PROPS
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$run/connect.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=%d{ISO8601} %p %c{1} %m%n
PROPS
	nohup "$java" ${CONNECT_HEAP_OPTS:--Xms128m -Xmx384m} -Dlog4j2.configurationFile="$run/log4j2.properties" \
		-cp "$libs/*" org.apache.kafka.connect.cli.ConnectStandalone "$run/worker.properties" \
		>"$run/connect.out" 2>&1 &
	echo $! >"$run/connect.pid"
	for _ in $(seq 1 "${CDC_READY_TIMEOUT:-120}"); do
		if curl -fsS "http://127.0.0.1:$cport/connectors" >/dev/null 2>&1; then
			say "Kafka Connect ready on http://127.0.0.1:$cport"
			return 0
		fi
		connect_running || break
		sleep 1
	done
	say "Kafka Connect did not become ready; last lines of $run/connect.log and connect.out:"
	tail -n 30 "$run/connect.log" "$run/connect.out" >&2 || true
	connect_down
	exit 1
}

connect_down() {
	if connect_running; then
		local pid
		pid=$(<"$run/connect.pid")
		kill -TERM "$pid"
		for _ in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
		say "Kafka Connect stopped"
	fi
	rm -f "$run/connect.pid"
}

up() { pg_up; connect_up; }
down() { connect_down; pg_down; }

with() {
	local started=0 rc=0
	if ! pg_running || ! connect_running; then
		up
		started=1
	fi
	export CDC_PG_PORT=$pgport CDC_PSQL=$pg_bin/psql CDC_CONNECT_URL=http://127.0.0.1:$cport CDC_RUN=$run
	"$@" || rc=$?
	if ((started)); then down; fi
	return "$rc"
}

case ${1:-} in
	up) up ;;
	down) down ;;
	fetch) fetch ;;
	clean) down; rm -rf "$run" "$pgroot" ;;
	with) shift; [[ $# -gt 0 ]] || { say "usage: cdc.sh with CMD [ARGS...]"; exit 2; }; with "$@" ;;
	*) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
