#!/usr/bin/env bash
# Install what is missing, build with -Wall -Wextra -Werror under AddressSanitizer + UBSan
# (leak detection on), run every test: Check unit suites and integration tests against the
# real binary. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")"
. tools/deps.sh
# shellcheck disable=SC2086
ensure_packages $BUILD_PKGS $TEST_PKGS
B=build-test
if [ ! -f $B/build.ninja ]; then
  meson setup $B --buildtype=debug -Doptimization=1 -Dwerror=true -Dwarning_level=2 \
    -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all >/dev/null
fi
ninja -C $B
rc=0
meson test -C $B --print-errorlogs --num-processes 2 "$@" || rc=$?
python3 - "$B/meson-logs/testlog.json" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["result"] in ("OK", "EXPECTEDFAIL", "SKIP"):
        ok += 1
    else:
        bad += 1
        print("FAILED:", r["name"])
print("tests: %d passed, %d failed" % (ok, bad))
PY
exit $rc
