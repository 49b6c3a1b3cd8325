#!/bin/sh
# meson test deploy/unit: deploy/cxd.service stays hardened and valid.
#   unit.sh UNIT CXD_BIN
# Fails if `systemd-analyze security --offline=yes` rates the unit above 2.0 (OK), or if
# `systemd-analyze verify` says anything about it; skips (77) where systemd-analyze is
# missing. verify wants ExecStart's binary to exist, so it checks a copy of the unit whose
# ExecStart points at the binary just built (the copy is otherwise the same file).
# Mutations tried: the unit before issue 11 (5.6 MEDIUM, fails); deleting the
# SystemCallFilter= lines (1.1 -> 2.6, fails); a misspelt directive (verify: "Unknown key",
# fails).
set -u
unit=$1 bin=$2
command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: no systemd-analyze"; exit 77; }
rc=0
out=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1)
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then
  printf '%s\n' "$out"; echo "FAIL: no exposure level from systemd-analyze security"; rc=1
elif awk -v s="$score" 'BEGIN { exit !(s > 2.0) }'; then
  printf '%s\n' "$out" | grep -v '✓'
  echo "FAIL: exposure $score > 2.0 for $unit"; rc=1
else
  echo "ok: exposure $score (<= 2.0)"
fi
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
grep -q '^ExecStart=/usr/local/bin/cxd' "$unit" || { echo "FAIL: ExecStart is not /usr/local/bin/cxd"; rc=1; }
sed "s|^ExecStart=/usr/local/bin/cxd|ExecStart=$(realpath "$bin")|" "$unit" > "$dir/cxd.service"
if vout=$(systemd-analyze verify "$dir/cxd.service" 2>&1) && [ -z "$vout" ]; then
  echo "ok: systemd-analyze verify is clean"
else
  printf '%s\n' "$vout"; echo "FAIL: systemd-analyze verify $unit"; rc=1
fi
exit $rc
