#!/usr/bin/env bash
# HTTP load test: the same small JSON POST handler behind each middleware stack, measured in
# one run with wrk on loopback (50 connections). Prints requests/s, p50/p99 latency and the
# server's CPU time per request (utime+stime from /proc: fairer than requests/s, because wrk
# shares the machine's cores with the server).
#
#   benches/http_load.sh [SECONDS]        (default 10 s per configuration)
#
# HTTP_LOAD_CONFIGS="mode store;mode store" picks configurations (stores: head-only, memory,
# jsonl, sqlite, postgres); HTTP_LOAD_PRELOAD=/path/to/libjemalloc.so.2 runs the server with
# that allocator preloaded (the bare baseline too). HTTP_LOAD_DELAY_MS=1 makes every connection
# wait that long after each response (a load below saturation: latency without queueing for
# CPU); HTTP_LOAD_PIN=1 runs the server on core 0 and wrk on core 1 (taskset);
# HTTP_LOAD_SERVER=PATH runs that server binary (one built at another commit, for an A/B).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [ -n "${HTTP_LOAD_SERVER:-}" ]; then
  server=$HTTP_LOAD_SERVER
else
  cargo build -q --release --example http_load_server
  server=target/release/examples/http_load_server
fi
clk_tck=$(getconf CLK_TCK)
lua=$(mktemp --suffix=.lua)
trap 'rm -f "$lua"' EXIT
cat >"$lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"widget","qty":3}'
wrk.headers["Content-Type"] = "application/json"
LUA
if [ -n "${HTTP_LOAD_DELAY_MS:-}" ]; then
  printf 'function delay()\n  return %s\nend\n' "$HTTP_LOAD_DELAY_MS" >>"$lua"
fi
server_cpu=() wrk_cpu=()
if [ -n "${HTTP_LOAD_PIN:-}" ]; then
  server_cpu=(taskset -c 0) wrk_cpu=(taskset -c 1)
fi

configs=(
  "bare memory"
  "trace memory"
  "audit-skipped memory"
  "audit-buffered head-only"
  "audit-buffered memory"
  "audit-acknowledged memory"
  "audit-buffered jsonl"
  "audit-acknowledged jsonl"
  "audit-acknowledged sqlite"
  "audit-acknowledged postgres"
)
[ -n "${HTTP_LOAD_CONFIGS:-}" ] && IFS=';' read -r -a configs <<<"$HTTP_LOAD_CONFIGS"

printf '| %-20s | %-9s | %10s | %8s | %8s | %14s |\n' mode store "req/s" p50 p99 "CPU µs/req"
printf '|%s|%s|%s|%s|%s|%s|\n' ---------------------- ----------- ------------ ---------- ---------- ----------------
for config in "${configs[@]}"; do
  read -r mode store <<<"$config"
  out=$(mktemp)
  env ${HTTP_LOAD_PRELOAD:+LD_PRELOAD="$HTTP_LOAD_PRELOAD"} "${server_cpu[@]}" "$server" --mode "$mode" --store "$store" --jsonl-path "$(mktemp -u)" >"$out" &
  pid=$!
  for _ in $(seq 1 100); do grep -q listening "$out" && break; sleep 0.1; done
  url="http://$(awk '/listening on/ {print $3}' "$out")/items"
  "${wrk_cpu[@]}" wrk -t1 -c50 -d2s -s "$lua" "$url" >/dev/null # warm up
  cpu_before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  result=$("${wrk_cpu[@]}" wrk -t1 -c50 -d"${seconds}s" --latency -s "$lua" "$url")
  cpu_after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill -INT "$pid"; wait "$pid" || true
  rm -f "$out"
  requests=$(echo "$result" | awk '/requests in/ {print $1}')
  rps=$(echo "$result" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$result" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$result" | awk '$1 == "99%" {print $2}')
  non2xx=$(echo "$result" | awk '/Non-2xx/ {print $NF}')
  [ -n "$non2xx" ] && echo "warning: $mode/$store had $non2xx non-2xx responses" >&2
  cpu_us=$(awk -v a="$cpu_before" -v b="$cpu_after" -v t="$clk_tck" -v n="$requests" 'BEGIN {printf "%.1f", (b - a) * 1e6 / t / n}')
  printf '| %-20s | %-9s | %10s | %8s | %8s | %14s |\n' "$mode" "$store" "$rps" "$p50" "$p99" "$cpu_us"
done
