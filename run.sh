#!/usr/bin/env bash
# Build cxd (installing missing Debian packages) and run it on 127.0.0.1:8080 with ./cxd.db.
# Any cxd flag can follow, e.g. ./run.sh --listen 0.0.0.0:8080 --db /var/lib/cxd/cxd.db
# Installs only what the service needs (BUILD_PKGS in tools/deps.sh); the build directory
# is ./build. Any failure says which step failed and shows the end of its output.
set -euo pipefail
cd "$(dirname "$0")"
. tools/deps.sh
# shellcheck disable=SC2086
ensure_packages $BUILD_PKGS
if [ ! -f build/build.ninja ]; then
  step build/setup.log "configuring the build (meson setup build)" -- \
    meson setup build --buildtype=release
fi
step build/build.log "building cxd (ninja -C build cxd)" -- ninja -C build cxd
[ -x build/cxd ] || fail "the build left no build/cxd"
exec ./build/cxd "$@"
