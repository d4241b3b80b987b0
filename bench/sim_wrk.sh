#!/usr/bin/env bash
# Requests/s of flowgate-sim on feeds/last.json, measured with wrk over loopback.
#   bench/sim_wrk.sh [runs=5] [seconds=10]
# Prints the median of `runs` runs for 1 connection (1 wrk thread) and 64 connections
# (2 wrk threads). The simulator itself is single-threaded: one core serves everything.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
secs=${2:-10}
sim=${FLOWGATE_BUILD_DIR:-$repo/build}/tools/thingspeak-sim/flowgate-sim
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
[ -x "$sim" ] || "$repo/scripts/build" flowgate-sim

tmp=$(mktemp -d)
"$sim" --config "$repo/config/sim-demo.toml" --listen 127.0.0.1:0 --port-file "$tmp/port" --log-level warn &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$tmp/port")/channels/2100101/feeds/last.json"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
measure() { # threads connections
  for _ in $(seq "$runs"); do
    wrk -t"$1" -c"$2" -d"${secs}s" "$url" | awk '/Requests\/sec/ {print $2}'
  done | tee "$tmp/runs" >&2
  echo "connections=$2 wrk_threads=$1 median_rps=$(median < "$tmp/runs")"
}
measure 1 1
measure 2 64
