#!/usr/bin/env bash
# `make run-cdc`: a PostgreSQL users table synced to hubsim through Debezium, with nothing but
# the mapping file deploy/mapping.example.yaml. Run it inside deploy/kafka/kafka.sh with and
# deploy/cdc/cdc.sh with (the Makefile does), which export KAFKA_BROKERS, CDC_PG_PORT, CDC_PSQL
# and CDC_CONNECT_URL. It creates a database with a users table, streams it with the Debezium
# PostgreSQL connector, runs the worker against hubsim, changes the table (an email, a NULLed
# property, a deleted user), prints the table and the resulting profiles, and removes what it
# created.
#
# Environment: HUBSIM_ADDR (127.0.0.1:18711).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
: "${KAFKA_BROKERS:?run me through make run-cdc}" "${CDC_PG_PORT:?}" "${CDC_PSQL:?}" "${CDC_CONNECT_URL:?}"

hubsim_addr=${HUBSIM_ADDR:-127.0.0.1:18711}
bin=$repo/.cache/bin
run_id=$(date +%Y%m%d%H%M%S)
db=demo_$run_id
prefix=demo$run_id
topic=$prefix.public.users
key=WSKEY_demo
export SUPRSEND_WORKSPACE_SECRET="WSSECRET_demo_$RANDOM$RANDOM"
work=$(mktemp -d)

say() { printf '\n== %s\n' "$*"; }
psql_() { "$CDC_PSQL" -h 127.0.0.1 -p "$CDC_PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }

hubsim_pid= worker_pid=
cleanup() {
	[[ -n $worker_pid ]] && kill "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null || true
	[[ -n $hubsim_pid ]] && kill "$hubsim_pid" 2>/dev/null && wait "$hubsim_pid" 2>/dev/null || true
	curl -fsS -X DELETE "$CDC_CONNECT_URL/connectors/$db" >/dev/null 2>&1 || true
	for _ in $(seq 1 30); do
		psql_ -d postgres -c "SELECT pg_drop_replication_slot('slot_$run_id')" >/dev/null 2>&1 && break
		sleep 1
	done
	psql_ -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

say "building profile-ingest and hubsim"
go build -o "$bin/" ./cmd/profile-ingest ./cmd/hubsim

say "a users table (REPLICA IDENTITY FULL) with three users, in database $db"
psql_ -d postgres -c "CREATE DATABASE $db"
psql_ -d "$db" <<'SQL'
CREATE TABLE users (id int PRIMARY KEY, email text, phone text, lang text, tz text, plan text, fcm_token text);
ALTER TABLE users REPLICA IDENTITY FULL;
INSERT INTO users VALUES
  (1, 'ada@example.com', '+14155550101', 'en', 'Europe/London', 'pro', 'fcm-token-ada'),
  (2, 'grace@example.com', NULL, 'en', 'America/New_York', 'free', NULL),
  (3, 'linus@example.com', '+358401234567', 'fi', 'Europe/Helsinki', 'team', NULL);
SQL

say "the Debezium PostgreSQL connector (pgoutput) streaming it to $topic"
curl -fsS -X PUT -H 'Content-Type: application/json' "$CDC_CONNECT_URL/connectors/$db/config" -d @- >/dev/null <<JSON
{"connector.class":"io.debezium.connector.postgresql.PostgresConnector","plugin.name":"pgoutput",
 "database.hostname":"127.0.0.1","database.port":"$CDC_PG_PORT","database.user":"postgres","database.password":"unused",
 "database.dbname":"$db","topic.prefix":"$prefix","table.include.list":"public.users",
 "slot.name":"slot_$run_id","publication.name":"pub_$run_id","publication.autocreate.mode":"filtered",
 "topic.creation.default.replication.factor":"1","topic.creation.default.partitions":"3"}
JSON
for _ in $(seq 1 120); do
	curl -fsS "$CDC_CONNECT_URL/connectors/$db/topics" 2>/dev/null | grep -q "\"$topic\"" && break
	sleep 1
done

say "hubsim on $hubsim_addr and the worker, with kafka.formats naming deploy/mapping.example.yaml"
HUBSIM_SECRET=$SUPRSEND_WORKSPACE_SECRET "$bin/hubsim" --addr "$hubsim_addr" --key "$key" >"$work/hubsim.log" 2>&1 &
hubsim_pid=$!
cat >"$work/config.yaml" <<YAML
kafka:
  brokers: ["${KAFKA_BROKERS%%,*}"]
  topics: ["$topic"]
  group_id: demo-$run_id
  formats:
    $topic: {format: debezium, mapping: deploy/mapping.example.yaml}
suprsend:
  base_url: http://$hubsim_addr/
  workspace_key: $key
batch:
  linger: 50ms
observability:
  listen: ""
  log_format: console
YAML
cat "$work/config.yaml"
"$bin/profile-ingest" run --config "$work/config.yaml" >"$work/worker.log" 2>&1 &
worker_pid=$!

profile() { curl -fsS "http://$hubsim_addr/_sim/profiles/$1" 2>/dev/null; }
wait_for() { # wait_for USER TEXT: until USER's profile contains TEXT
	for _ in $(seq 1 120); do
		profile "$1" | grep -q -- "$2" && return 0
		sleep 1
	done
	echo "timed out waiting for profile $1 to show $2; the worker's log:" >&2
	tail -n 30 "$work/worker.log" >&2
	exit 1
}
wait_for 3 linus@example.com

say "changing the table: a new email for 2, plan NULL for 3, user 1 deleted"
psql_ -d "$db" -c "UPDATE users SET email = 'grace.hopper@example.com' WHERE id = 2;
  UPDATE users SET plan = NULL WHERE id = 3; DELETE FROM users WHERE id = 1;"
psql_ -d "$db" -c "SELECT * FROM users ORDER BY id"
wait_for 2 grace.hopper@example.com
for _ in $(seq 1 60); do profile 1 | grep -q ada@example.com || break; sleep 1; done

pretty() { if command -v python3 >/dev/null; then python3 -m json.tool; else cat; echo; fi; }
for user in 1 2 3; do
	say "hubsim's profile of $user"
	profile "$user" | pretty
done
say "stopping the worker (SIGTERM): its summary"
kill -TERM "$worker_pid"
wait "$worker_pid" || true
worker_pid=
grep -E "consumed|WRN|ERR" "$work/worker.log" || true
