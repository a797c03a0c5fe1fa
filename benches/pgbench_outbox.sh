#!/usr/bin/env bash
# What a statement of its own inside a transaction costs on PostgreSQL, measured with pgbench
# (libpq, no ORM): the floor under the outbox's ratio (BENCHMARKS.md, "audited vs plain SeaORM
# writes"). Each variant runs `begin; update … returning; …; commit` on one connection:
#
#   plain          nothing more
#   select1        a `SELECT 1` (a round trip and nothing else)
#   outbox         the outbox's one-row INSERT (ids in order, as UUIDv7 are), prepared
#   outbox_delete  the store's delete of sealed rows with the insert, prepared
#   fused          the INSERT and the COMMIT as one simple query (-M simple)
#   fused_simple   the INSERT and the COMMIT sent apart, as simple queries (-M simple)
#   function       the delete and insert as a PL/pgSQL function, called with the COMMIT in one
#                  simple query (-M simple)
#
#   benches/pgbench_outbox.sh [SECONDS] [ROUNDS]     (default 5 s, 3 rounds)
#
# Uses the schema `pgbench_outbox` of the database at PGBENCH_URL (default
# postgres://postgres@127.0.0.1:5432/test), dropped first and at the end.
set -euo pipefail
seconds=${1:-5}
rounds=${2:-3}
url=${PGBENCH_URL:-postgres://postgres@127.0.0.1:5432/test}
dir=$(mktemp -d)
trap 'rm -rf "$dir"; psql -q "$url" -c "DROP SCHEMA IF EXISTS pgbench_outbox CASCADE" >/dev/null 2>&1 || true' EXIT

psql -q "$url" >/dev/null <<'SQL'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS pgbench_outbox CASCADE;
CREATE SCHEMA pgbench_outbox;
CREATE TABLE pgbench_outbox.t (id int PRIMARY KEY, name text, v int);
INSERT INTO pgbench_outbox.t SELECT g, 'name' || g, 0 FROM generate_series(1, 1000) g;
CREATE TABLE pgbench_outbox.ob (id VARCHAR(36) NOT NULL PRIMARY KEY, ts_us BIGINT NOT NULL, payload TEXT NOT NULL);
CREATE SEQUENCE pgbench_outbox.s;
CREATE FUNCTION pgbench_outbox.put(sealed text[], ids text[], ts bigint, payloads text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM pgbench_outbox.ob WHERE id = ANY(sealed);
  INSERT INTO pgbench_outbox.ob SELECT i, ts, p FROM unnest(ids, payloads) AS u(i, p);
END $$;
SQL

payload=$(printf 'x%.0s' $(seq 1 900))
next_id="lpad(nextval('pgbench_outbox.s')::text, 36, '0')"
update='UPDATE pgbench_outbox.t SET v = v + 1 WHERE id = :k RETURNING *;'
insert="INSERT INTO pgbench_outbox.ob VALUES ($next_id, 1, '$payload')"
script() { # name, statements between the update and the commit (may end the transaction)
  printf '%s\n' '\set k random(1, 1000)' '\set n random(1, 1000000000)' 'BEGIN;' "$update" "$2" >"$dir/$1.sql"
}
script plain 'COMMIT;'
script select1 $'SELECT 1;\nCOMMIT;'
script outbox "$insert;"$'\nCOMMIT;'
script outbox_delete "WITH sealed AS (DELETE FROM pgbench_outbox.ob WHERE id IN (lpad((:n)::text, 36, '0'))) $insert;"$'\nCOMMIT;'
script fused "$insert \\; COMMIT;"
cp "$dir/outbox.sql" "$dir/fused_simple.sql"
script function "SELECT pgbench_outbox.put(ARRAY[lpad((:n)::text, 36, '0')], ARRAY[$next_id], 1, ARRAY['$payload']) \\; COMMIT;"

run() { # name, protocol
  local latency
  latency=$(pgbench -n -M "$2" -c 1 -T "$seconds" -f "$dir/$1.sql" "$url" 2>&1 | awk '/latency average/ {print $4}')
  printf '| %-13s | %-8s | %7s ms |\n' "$1" "$2" "$latency"
}
printf '| %-13s | %-8s | %10s |\n' variant protocol latency
printf '|%s|%s|%s|\n' --------------- ---------- ------------
for _ in $(seq 1 "$rounds"); do
  run plain prepared
  run select1 prepared
  run outbox prepared
  run outbox_delete prepared
  run plain simple
  run fused_simple simple
  run fused simple
  run function simple
done
