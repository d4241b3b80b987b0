#!/usr/bin/env bash
# Integration test for scripts/services: start/stop/status, idempotent start,
# data surviving a restart, and a clear failure when a port is taken.
# Uses its own temporary run dir and its own free ports, so it never touches
# a developer's <repo>/.run or the default ports.
#
# Usage: services_test.sh [path/to/scripts/services]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVICES="$(realpath "${1:-$HERE/../../scripts/services}")"
[ -x "$SERVICES" ] || { echo "FAIL: $SERVICES is not executable"; exit 1; }

RUN_DIR="$(mktemp -d /tmp/flowgate-services-test.XXXXXX)"
chmod 755 "$RUN_DIR" # postgres and mosquitto run as their own users
OUT="$RUN_DIR/out"   # stdout+stderr of the last services call
HELPER_PID=""
T0=$SECONDS

cleanup() {
  local rc=$?
  if [ -n "$HELPER_PID" ]; then
    kill "$HELPER_PID" 2>/dev/null || true
    wait "$HELPER_PID" 2>/dev/null || true
  fi
  "$SERVICES" stop >/dev/null 2>&1 || echo "warning: '$SERVICES stop' failed during cleanup"
  rm -rf "$RUN_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pass() { echo "ok - $*"; }

fail() {
  echo "FAIL - $1"
  echo "  expected: $2"
  echo "  seen:     $3"
  if [ -s "$OUT" ]; then
    echo "  output of the last services call:"
    sed 's/^/    /' "$OUT"
  fi
  exit 1
}

expect_eq() { # DESCRIPTION EXPECTED SEEN
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "$2" "$3"; fi
}

# services ARGS...: runs the script, output to $OUT, prints its exit code.
services() {
  local rc=0
  "$SERVICES" "$@" >"$OUT" 2>&1 || rc=$?
  echo "$rc"
}

# Three distinct ports, outside the ephemeral range, that are free right now.
free_ports() {
  python3 - <<'EOF'
import random, socket
socks = []
while len(socks) < 3:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randint(20000, 29999)))
    except OSError:
        s.close()
        continue
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

read -r PG_PORT REDIS_PORT MQTT_PORT < <(free_ports)
export FLOWGATE_RUN_DIR="$RUN_DIR"
export FLOWGATE_PG_PORT="$PG_PORT"
export FLOWGATE_REDIS_PORT="$REDIS_PORT"
export FLOWGATE_MQTT_PORT="$MQTT_PORT"
export FLOWGATE_SERVICES_TIMEOUT=20
echo "# run dir $RUN_DIR, ports pg=$PG_PORT redis=$REDIS_PORT mqtt=$MQTT_PORT"

sql() { psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U flowgate -d flowgate -Atc "$1" 2>&1 || true; }
redis() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@" 2>&1 || true; }
mqtt_pub() { timeout 5 mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" "$@" 2>&1 || true; }
mqtt_sub_one() { # TOPIC: first (retained) message on TOPIC
  timeout 10 mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -t "$1" -C 1 -W 5 2>&1 || true
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# alive PID: exists and is not a zombie (the init here may not reap orphans).
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [ "${state:0:1}" != Z ]
}

# pids: "pg redis mqtt" pids from the status output.
pids() {
  "$SERVICES" status 2>/dev/null | sed -n 's/.* pid=\([0-9-]*\).*/\1/p' | tr '\n' ' ' | sed 's/ $//' || true
}

# ---------------------------------------------------------------- 1. start
expect_eq "start exits 0" 0 "$(services start)"
expect_eq "postgres answers as flowgate on port $PG_PORT" "1 flowgate" \
  "$(sql 'select 1, current_user' | tr '|' ' ')"
expect_eq "redis answers PING on port $REDIS_PORT" PONG "$(redis ping)"
MSG="hello-$$-$RANDOM"
mqtt_pub -t flowgate/test/retained -r -m "$MSG" >/dev/null
expect_eq "mosquitto pub/sub round trip on port $MQTT_PORT" "$MSG" \
  "$(mqtt_sub_one flowgate/test/retained)"

# ---------------------------------------------------------------- 6a. status
expect_eq "status exits 0 while running" 0 "$(services status)"

# ---------------------------------------------------------------- 2. start again
PIDS1="$(pids)"
[[ "$PIDS1" =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]] || fail "status lists three pids" "3 pids" "'$PIDS1'"
expect_eq "second start exits 0" 0 "$(services start)"
grep -q "already running" "$OUT" || fail "second start says 'already running'" "already running" "$(cat "$OUT")"
pass "second start says 'already running'"
expect_eq "second start keeps the same pids" "$PIDS1" "$(pids)"

# ---------------------------------------------------------------- 2b. second instance
# Another run dir on the same ports must refuse, naming the service and port.
rc=$(FLOWGATE_RUN_DIR="$RUN_DIR/second" services start)
[ "$rc" != 0 ] || fail "second instance on the same ports fails" "non-zero exit" "exit 0"
grep -q "postgres.*$PG_PORT" "$OUT" ||
  fail "second instance names postgres and port $PG_PORT" "postgres ... $PG_PORT" "$(cat "$OUT")"
pass "second instance on the same ports fails (exit $rc): $(grep "$PG_PORT" "$OUT" | head -n 1)"
expect_eq "second instance left the first one alone" "$PIDS1" "$(pids)"

# ---------------------------------------------------------------- 3. write data
expect_eq "create table and row in postgres" "" \
  "$(sql "create table services_test (id int primary key, v text); insert into services_test values (1, '$MSG')")"
expect_eq "set key in redis" OK "$(redis set services_test "$MSG")"

# ---------------------------------------------------------------- 4. stop
expect_eq "stop exits 0" 0 "$(services stop)"
for pid in $PIDS1; do
  if alive "$pid"; then fail "pid $pid is gone after stop" "no process" "$(ps -o pid,stat,args -p "$pid")"; fi
done
for port in "$PG_PORT" "$REDIS_PORT" "$MQTT_PORT"; do
  if port_open "$port"; then fail "port $port is closed after stop" closed open; fi
done
LEFT="$(pgrep -af -- "$RUN_DIR" || true)"
expect_eq "no process mentions the run dir" "" "$LEFT"
pass "all pids ($PIDS1) gone and ports closed"

# ---------------------------------------------------------------- 6b. status
expect_eq "status exits 3 when stopped" 3 "$(services status)"
expect_eq "stop when nothing runs exits 0" 0 "$(services stop)"

# ---------------------------------------------------------------- 5. persistence
expect_eq "start after stop exits 0" 0 "$(services start)"
expect_eq "postgres row survived restart" "$MSG" "$(sql 'select v from services_test where id = 1')"
expect_eq "redis key survived restart" "$MSG" "$(redis get services_test)"
expect_eq "mosquitto retained message survived restart" "$MSG" \
  "$(mqtt_sub_one flowgate/test/retained)"
expect_eq "status exits 0 after restart" 0 "$(services status)"

# ---------------------------------------------------------------- 7. port taken
expect_eq "stop before the port-conflict check" 0 "$(services stop)"
python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # port may be in TIME_WAIT
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(120)
' "$REDIS_PORT" &
HELPER_PID=$!
for _ in $(seq 50); do port_open "$REDIS_PORT" && break; sleep 0.1; done
port_open "$REDIS_PORT" || fail "helper listens on $REDIS_PORT" listening "not listening"
rc=$(services start)
[ "$rc" != 0 ] || fail "start with redis port $REDIS_PORT taken fails" "non-zero exit" "exit 0"
grep -q "redis.*$REDIS_PORT" "$OUT" ||
  fail "failure names redis and port $REDIS_PORT" "redis ... $REDIS_PORT" "$(cat "$OUT")"
pass "start with redis port taken fails (exit $rc): $(grep "$REDIS_PORT" "$OUT" | head -n 1)"

echo "# all passed in $((SECONDS - T0))s"
