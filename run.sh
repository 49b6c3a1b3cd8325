#!/usr/bin/env bash
# Build cxd (installing missing Debian packages) and run it on 127.0.0.1:8080 with ./cxd.db.
# Any cxd flag can follow, e.g. ./run.sh --listen 0.0.0.0:8080 --db /var/lib/cxd/cxd.db
set -euo pipefail
cd "$(dirname "$0")"
. tools/deps.sh
# shellcheck disable=SC2086
ensure_packages $BUILD_PKGS
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build cxd >/dev/null
exec ./build/cxd "$@"
