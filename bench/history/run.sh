#!/usr/bin/env bash
# The history API on 10 M readings: latency of a 24 h range of one metric of one node, and
# of a community's nodes with their last readings, through the daemon (wrk, 1 connection),
# plus PostgreSQL's own plan and time for the range query.
#   bench/history/run.sh [runs=5] [seconds=10]
# Needs the local services (scripts/services start) and a build. The readings go into a
# database of their own (flowgate_bench_history), created once and kept for later runs:
# 100 nodes × 2 metrics × 50,000 readings (one a minute for about 35 days, the last day
# ending now).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-5}
secs=${2:-10}
build=${FLOWGATE_BUILD_DIR:-$repo/build}
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
eval "$("$repo/scripts/services" env)"
server=$FLOWGATE_DATABASE_URL
db=flowgate_bench_history
url=${server%/*}/$db

export FLOWGATE_DATABASE_URL=$url  # the daemon's database: the variable wins over the file
tmp=$(mktemp -d)
cat > "$tmp/flowgate.toml" <<TOML
[log]
level = "warn"
[http]
listen = "127.0.0.1:0"
[auth]
mode = "none"
[thingspeak]
base_url = "http://127.0.0.1:9"
TOML

if [ "$(psql "$server" -tAc "SELECT count(*) FROM pg_database WHERE datname = '$db'")" = 0 ]; then
  psql "$server" -qc "CREATE DATABASE $db"
  "$build/src/flowgate" migrate --config "$tmp/flowgate.toml" >/dev/null
  echo "loading 10,000,000 readings into $db (once)" >&2
  time psql "$url" -q -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO communities (id, name) VALUES (1, 'Bench');
-- Disabled: the daemon polls nothing, it only answers.
INSERT INTO nodes (id, community_id, name, category, telemetry_source, enabled)
  SELECT i, 1, 'node ' || i, 'OHT', 'thingspeak', false FROM generate_series(1, 100) i;
INSERT INTO device_thingspeak_mapping (device_id, channel_id) SELECT i, 1000 + i FROM generate_series(1, 100) i;
INSERT INTO thingspeak_field_mappings (device_id, thingspeak_field, canonical_name, unit)
  SELECT i, f, (ARRAY['water_level', 'water_temperature'])[f], (ARRAY['m', '°C'])[f]
  FROM generate_series(1, 100) i, generate_series(1, 2) f;
INSERT INTO telemetry_readings (device_id, metric, ts, value, entry_id, source)
  SELECT d, m, date_trunc('minute', now()) - (50000 - e) * interval '1 minute', random() * 3, e, 'bench'
  FROM generate_series(1, 100) d, unnest(ARRAY['water_level', 'water_temperature']) m, generate_series(1, 50000) e;
ANALYZE;
SQL
fi
echo "readings: $(psql "$url" -tAc 'SELECT count(*) FROM telemetry_readings')" >&2

"$build/src/flowgate" run --config "$tmp/flowgate.toml" --port-file "$tmp/port" > "$tmp/daemon.log" 2>&1 &
daemon=$!
trap 'kill $daemon 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
base="http://127.0.0.1:$(cat "$tmp/port")"

echo "--- PostgreSQL: the 24 h range query (node 42, water_level), 5 times on one connection" >&2
query="EXPLAIN (ANALYZE, TIMING OFF) SELECT (extract(epoch FROM ts) * 1000000)::bigint, entry_id, value, value_text
  FROM telemetry_readings WHERE device_id = 42 AND metric = 'water_level' AND ts >= now() - interval '24 hours'
  AND ts < now() ORDER BY ts, entry_id LIMIT 10001;"
psql "$url" -tA -c "$query" -c "$query" -c "$query" -c "$query" -c "$query" | grep -E "Index Scan|Execution Time" >&2
rows=$(curl -sf "$base/api/nodes/42/readings?metric=water_level&limit=10000" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["readings"]))')
bytes=$(curl -sf "$base/api/nodes/42/readings?metric=water_level&limit=10000" | wc -c)
echo "24 h answer: $rows readings, $bytes bytes" >&2

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
measure() { # name path
  for _ in $(seq "$runs"); do
    wrk -t1 -c1 -d"${secs}s" --latency "$base$2" | awk '/Requests\/sec/ {print $2}'
  done | tee "$tmp/runs" >&2
  echo "$1 median_rps=$(median < "$tmp/runs") (1 connection: ms per request = 1000 / rps)"
}
measure "readings_24h_limit_10000" "/api/nodes/42/readings?metric=water_level&limit=10000"
measure "readings_24h_limit_100" "/api/nodes/42/readings?metric=water_level&limit=100"
measure "nodes_with_last_readings" "/api/communities/1/nodes"
