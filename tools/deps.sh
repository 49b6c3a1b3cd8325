# tools/deps.sh - sourced by run.sh and test.sh: install missing Debian packages.
BUILD_PKGS="gcc meson ninja-build pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev libgnutls28-dev python3"
TEST_PKGS="check curl chromium openssl clang libclang-rt-14-dev"

ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}
