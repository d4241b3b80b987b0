#!/usr/bin/env bash
# deploy/systemd/flowgate.service passes `systemd-analyze verify` (directives, sandboxing
# options, ExecStart) with ExecStart pointing at the freshly built binary. PID 1 here is not
# systemd, so the unit cannot be started; the daemon's side of Type=notify is the e2e test
# Flowgate.TellsSystemdWhenItIsReadyPetsTheWatchdogAndSaysWhenItStops.
#   systemd_unit_test.sh UNIT_FILE FLOWGATE_BINARY
set -euo pipefail
unit=$1
binary=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|/usr/local/bin/flowgate|$binary|" "$unit" > "$dir/flowgate.service"
out=$(systemd-analyze verify "$dir/flowgate.service" 2>&1) || { echo "$out" >&2; exit 1; }
# verify exits 0 on some warnings; any line it prints about the unit is a failure here.
if printf '%s\n' "$out" | grep -q 'flowgate.service'; then
  echo "$out" >&2
  exit 1
fi
grep -q '^Type=notify$' "$dir/flowgate.service"
grep -q '^WatchdogSec=' "$dir/flowgate.service"
echo "systemd-analyze verify: ok"
