#!/usr/bin/env bash
# WebSocket fan-out benchmark: starts the server under test pinned to core 0, runs
# flowgate-bench-fanout (clients + publisher, one thread) pinned to core 1, and prints
# Markdown tables. For each client count the server is started afresh.
#
#   bench/fanout/run.sh flowgate|node [CLIENTS...]        (default: 1000 5000 10000)
#
# Environment (all optional):
#   RATES         offered deliveries/s per step, comma-separated; steps stop at the first
#                 failing one (default 25000,50000,100000,200000,400000,800000,1600000,3200000)
#   STEP_SECONDS  publishing time per step (default 3)
#   KEEP_GOING    1: run every step even after one fails
#   DEFLATE       1: clients offer permessage-deflate
#   MESSAGE_BYTES size of a delivered message (default 200; flowgate compresses from 256)
#   STALLED       N more clients (on the first topic) that never read: the slow consumers
#                 that must not slow the others (default 0)
#   BENCH_BIN     default build-bench/bench/fanout/flowgate-bench-fanout, built with
#                 CCACHE_NOHASHDIR=1 FLOWGATE_BUILD_DIR=$PWD/build-bench ./scripts/build flowgate-bench-fanout
#   FLOWGATE_BIN  the daemon (default build/src/flowgate)
#   BENCH_DB      PostgreSQL database for the daemon (default flowgate_bench, created if missing)
#   BENCH_REDIS   Redis URL (default redis://127.0.0.1:56379/7: a database of its own for the
#                 topics' seq and replay keys; pub/sub channels are shared by all databases)
#
# Needs scripts/services running (PostgreSQL :55432, Redis :56379). A step passes when
# p99 < 100 ms and no message is missing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
here="$repo/bench/fanout"
kind=${1:-}
case "$kind" in
  flowgate|node) shift ;;
  *) echo "usage: $0 flowgate|node [CLIENTS...]" >&2; exit 2 ;;
esac
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 5000 10000)
rates=${RATES:-25000,50000,100000,200000,400000,800000,1600000,3200000}
step_seconds=${STEP_SECONDS:-3}
bench=${BENCH_BIN:-$repo/build-bench/bench/fanout/flowgate-bench-fanout}
flowgate=${FLOWGATE_BIN:-$repo/build/src/flowgate}
db=${BENCH_DB:-flowgate_bench}
redis=${BENCH_REDIS:-redis://127.0.0.1:56379/7}
pg_port=${FLOWGATE_PG_PORT:-55432}
db_url="postgresql://flowgate@127.0.0.1:$pg_port/$db"
extra=()
[ "${KEEP_GOING:-0}" = 1 ] && extra+=(--keep-going)
[ "${STALLED:-0}" = 0 ] || extra+=(--stalled "$STALLED")
[ "${DEFLATE:-0}" = 1 ] && extra+=(--deflate)
[ -z "${MESSAGE_BYTES:-}" ] || extra+=(--message-bytes "$MESSAGE_BYTES")

# FLOWGATE_* variables override the daemon's config file: none may leak in from the caller.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^FLOWGATE_' || true)

[ -x "$bench" ] || { echo "missing $bench; build it (see the header of $0)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset (util-linux) is needed" >&2; exit 1; }
if ! perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
  echo "note: perf cannot count raw_syscalls:sys_enter here; the syscalls column stays empty" >&2
  extra+=(--no-perf)
fi

tmp=$(mktemp -d)
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap 'stop_server; rm -rf "$tmp"' EXIT

if [ "$kind" = flowgate ]; then
  [ -x "$flowgate" ] || { echo "missing $flowgate (./scripts/build flowgate)" >&2; exit 1; }
  cat > "$tmp/flowgate.toml" <<TOML
[log]
level = "warn"
format = "text"

[database]
url = "$db_url"

[redis]
url = "$redis"

[thingspeak]
# No devices are polled; loopback only all the same.
base_url = "http://127.0.0.1:9"

[http]
listen = "127.0.0.1:0"
# Every client comes from 127.0.0.1.
max_connections = 100000
max_connections_per_ip = 100000

[auth]
# The clients are the benchmark's own; auth costs nothing per message.
mode = "none"
TOML
  psql_bench() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U flowgate "$@"; }
  if [ -z "$(psql_bench -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    createdb -h 127.0.0.1 -p "$pg_port" -U flowgate "$db"
  fi
  "$flowgate" migrate --config "$tmp/flowgate.toml" >&2
  psql_bench -d "$db" -c "INSERT INTO communities (id, name)
    SELECT i, 'bench community ' || i FROM generate_series(1, 10) AS i ON CONFLICT DO NOTHING"
  server_cmd=(taskset -c 0 "$flowgate" run --config "$tmp/flowgate.toml" --port-file "$tmp/port")
else
  [ -d "$here/node-ref/node_modules/ws" ] || (cd "$here/node-ref" && npm ci --silent)
  server_cmd=(taskset -c 0 node "$here/node-ref/server.js" --port 0 --port-file "$tmp/port" --redis "$redis")
fi

start_server() {
  rm -f "$tmp/port"
  # Each connection is a descriptor: take the whole hard limit.
  (ulimit -n "$(ulimit -Hn)"; exec "${server_cmd[@]}") 2> >(sed "s/^/[$kind] /" >&2) &
  server_pid=$!
  for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  [ -s "$tmp/port" ] || { echo "the $kind server did not start" >&2; exit 1; }
  sleep 1 # let it settle before the idle RSS baseline
}

hard=$(ulimit -Hn)
started=$(date '+%Y-%m-%d %H:%M')
load=$(cut -d' ' -f1-3 /proc/loadavg)
: > "$tmp/rows"
: > "$tmp/idle"
for n in "${counts[@]}"; do
  [ "$n" -lt "$hard" ] || echo "warning: $n clients, but RLIMIT_NOFILE's hard limit is $hard" >&2
  start_server
  port=$(cat "$tmp/port")
  echo "== $kind, $n clients, port $port, server pid $server_pid" >&2
  (ulimit -n "$hard"; taskset -c 1 "$bench" --port "$port" --redis "$redis" --clients "$n" --rates "$rates" \
      --step-seconds "$step_seconds" --server-pid "$server_pid" "${extra[@]}") > "$tmp/out" || true
  grep '^| ' "$tmp/out" | tee -a "$tmp/rows" >&2 || true
  grep '^#idle ' "$tmp/out" | sed 's/^#idle //' >> "$tmp/idle" || true
  stop_server
done

cmdline="bench/fanout/run.sh $kind ${counts[*]}"
[ -z "${RATES:-}" ] || cmdline="RATES=$RATES $cmdline"
[ -z "${STEP_SECONDS:-}" ] || cmdline="STEP_SECONDS=$STEP_SECONDS $cmdline"
[ -z "${STALLED:-}" ] || cmdline="STALLED=$STALLED $cmdline"
[ -z "${KEEP_GOING:-}" ] || cmdline="KEEP_GOING=$KEEP_GOING $cmdline"
echo "## WebSocket fan-out: $kind ($started)"
echo
echo "Command: \`$cmdline\` — server \`${server_cmd[*]/#$repo\//}\` (port 0) on core 0;"
echo "clients and publisher: \`taskset -c 1 ${bench#$repo/} --clients N --rates $rates --step-seconds $step_seconds\`"
echo "on core 1. $(nproc) cores, load average $load at start; Redis $redis (not pinned)."
echo
"$bench" --header
cat "$tmp/rows"
echo
echo "| clients | highest passing deliveries/s | server µs/delivery there | syscalls/delivery there | /healthz p50 / p99 ms there | idle RSS bytes/connection |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
for n in "${counts[@]}"; do
  best=$(awk -F'|' -v n="$n" '$2+0 == n && $12 ~ /yes/ { v = $5; gsub(/[ ,]/, "", v)
      if (v+0 > top+0) { top = v; shown = $5; cpu = $14; sys = $15; probe = $17 } }
    END { if (top == "") print "none | – | – | –"; else printf "%s|%s|%s|%s\n", shown, cpu, sys, probe }' "$tmp/rows")
  idle=$(awk -F'|' -v n="$n" '$2+0 == n { gsub(/ /, "", $5); print $5 }' "$tmp/idle" | head -1)
  echo "| $n | $best | ${idle:-–} |"
done
echo
echo "/healthz: the round trip of a keep-alive \`GET /healthz\` sent every 10 ms during the step, one"
echo "in flight: how long the server's event loop makes any other request or timer wait."
echo "Idle RSS: server VmRSS before connecting and after N idle connections (+2 s)."
echo
echo "| clients | RSS before KiB | RSS after KiB | bytes/connection |"
echo "| ---: | ---: | ---: | ---: |"
cat "$tmp/idle"
