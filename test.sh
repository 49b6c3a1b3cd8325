#!/usr/bin/env bash
# Install what is missing, build with -Wall -Wextra -Werror under AddressSanitizer + UBSan
# (leak detection on), run every test: Check unit suites and integration tests against the
# real binary, a concurrency stress test under ThreadSanitizer, and the libFuzzer targets
# for FUZZ_SECONDS (60) each. Exits non-zero on any failure.
# Any failure says which step failed (package install, meson setup, build, npm ci) with the
# end of its log, or which tests failed.
set -euo pipefail
cd "$(dirname "$0")"
. tools/deps.sh
# shellcheck disable=SC2086
ensure_packages $BUILD_PKGS $TEST_PKGS
B=build-test
opts=(--buildtype=debug -Doptimization=1 -Dwerror=true -Dwarning_level=2 -Dtests=enabled
      -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all)
# (reconfigured each time, so that a directory set up before Check was installed still
# builds every test: -Dtests=enabled fails the setup rather than skip them)
if [ -f $B/build.ninja ]; then
  step $B/setup.log "configuring the test build (meson setup --reconfigure $B)" -- \
    meson setup --reconfigure $B "${opts[@]}"
else
  step $B/setup.log "configuring the test build (meson setup $B)" -- meson setup $B "${opts[@]}"
fi
step $B/build.log "building the test build (ninja -C $B)" -- ninja -C $B
# The dashboard test drives Chromium through Node (tests/browser/package.json): its
# packages come from the npm registry, exactly as package-lock.json pins them.
# npm ci refuses any package whose bytes differ from the sha512 that package-lock.json
# pins (both packages have one; neither has dependencies). Behind a TLS-intercepting proxy
# whose CA is not in Node's store (a fresh chroot in a sandbox, say), the TLS chain cannot
# be verified: then, and only then, it tries once more without the chain check, and the
# lockfile's hashes still guard the content, as apt's signed indexes do over plain HTTP.
browser_packages() {
  npm ci --prefix tests/browser --no-audit --no-fund && return 0
  grep -qE 'SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_UNTRUSTED' \
    "$B/npm-ci.log" || return 1
  [ "$(grep -c '"integrity": "sha512-' tests/browser/package-lock.json)" = \
    "$(grep -c '"node_modules/' tests/browser/package-lock.json)" ] || return 1
  echo "test.sh: the registry's TLS chain is not trusted here; npm ci again without the chain check (every package is still checked against package-lock.json's sha512)" | tee /dev/stderr
  npm ci --prefix tests/browser --no-audit --no-fund --strict-ssl=false
}
if [ -f tests/browser/package-lock.json ]; then
  step $B/npm-ci.log "installing the browser test's Node packages (npm ci --prefix tests/browser; needs https://registry.npmjs.org)" -- \
    browser_packages
fi
rc=0
meson test -C $B --print-errorlogs --num-processes 2 "$@" || rc=$?

# The same concurrency stress against a ThreadSanitizer build: data races fail the run.
T=build-tsan
if [ ! -f $T/build.ninja ]; then
  step $T/setup.log "configuring the ThreadSanitizer build (meson setup $T)" -- \
    meson setup $T --buildtype=debugoptimized -Db_sanitize=thread -Dtests=disabled
fi
step $T/build.log "building cxd under ThreadSanitizer (ninja -C $T cxd)" -- ninja -C $T cxd
tsan=0
: > $T/stress.log
for t in stress read_cache checkpoint; do   # the threads: workers, writer, leaders, cache
  TSAN_OPTIONS="halt_on_error=0" CX_TSAN=1 CXD_BIN=$T/cxd CX_SCHEMA_DIR=$PWD/schema python3 \
    tests/integration/test_$t.py >> $T/stress.log 2>&1 || { tsan=1; rc=1; tail -60 $T/stress.log; }
done
echo "stress under ThreadSanitizer: $([ $tsan = 0 ] && echo ok || echo FAILED) (log: $T/stress.log)"

# libFuzzer targets (clang, ASan + UBSan), each for a bounded time, seeded from tests/data.
# A crash fails the run; libFuzzer leaves the input in build-fuzz/crashes/<target>/, to be
# copied into tests/data/fuzz/<target>/, which the meson suite replays on every run.
F=build-fuzz
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
fuzz=0
if [ ! -f $F/build.ninja ]; then
  step $F/setup.log "configuring the fuzzing build (CC=clang meson setup $F -Dfuzzers=true)" -- \
    env CC=clang meson setup $F -Dfuzzers=true -Dtests=enabled --buildtype=debug -Doptimization=1 \
    -Db_sanitize=address,undefined -Db_lundef=false
fi
TARGETS="response time request http"
# shellcheck disable=SC2046
step $F/build.log "building the fuzz targets (ninja -C $F)" -- \
  ninja -C $F $(for t in $TARGETS; do echo tests/fuzz/fuzz_$t; done)
rm -rf $F/corpus
for t in $TARGETS; do mkdir -p $F/corpus/$t $F/crashes/$t; done
cp tests/data/valid/* tests/data/invalid/* tests/data/malformed/* $F/corpus/response/
cp tests/fuzz/corpus_time/* $F/corpus/time/
cp tests/fuzz/corpus_request/* $F/corpus/request/
cp tests/fuzz/corpus_http/* $F/corpus/http/
for t in $TARGETS; do   # earlier failures seed the corpus too
  if [ -d tests/data/fuzz/$t ]; then cp tests/data/fuzz/$t/* $F/corpus/$t/; fi
done
for t in $TARGETS; do
  if (cd $F && "./tests/fuzz/fuzz_$t" "corpus/$t" -max_total_time="$FUZZ_SECONDS" \
        -artifact_prefix="crashes/$t/" -rss_limit_mb=2048 -print_final_stats=1 \
        > "fuzz_$t.log" 2>&1); then
    echo "fuzz_$t: $(grep -o 'number_of_executed_units: [0-9]*' $F/fuzz_$t.log | grep -o '[0-9]*$') runs in ${FUZZ_SECONDS}s, no crash"
  else
    fuzz=$((fuzz + 1)); rc=1; tail -40 "$F/fuzz_$t.log"; echo "fuzz_$t: FAILED"
  fi
done

[ -f $B/meson-logs/testlog.json ] || fail "meson test wrote no $B/meson-logs/testlog.json (see its output above)"
python3 - "$B/meson-logs/testlog.json" "$tsan" "$fuzz" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["result"] in ("OK", "EXPECTEDFAIL", "SKIP"):
        ok += 1
    else:
        bad += 1
        print("FAILED:", r["name"])
ok, bad = (ok + 1, bad) if sys.argv[2] == "0" else (ok, bad + 1)
ok, bad = ok + 4 - int(sys.argv[3]), bad + int(sys.argv[3])   # the four fuzz targets
print("tests: %d passed, %d failed" % (ok, bad))
PY
[ $rc = 0 ] || echo "$CX_SELF: FAILED: the tests named FAILED above (logs: $B/meson-logs/testlog.txt, $T/stress.log, $F/fuzz_*.log)" >&2
exit $rc
