# tools/deps.sh - sourced by run.sh and test.sh: install missing Debian packages, and run
# each step so that a failure says which step failed and shows the end of its output.
#
# BUILD_PKGS is everything the service needs (run.sh installs only these); TEST_PKGS is
# what the test suite adds: Check for the unit suites, curl/openssl for the integration
# tests, Chromium + Node (npm ci in tests/browser) for the dashboard test, clang for the
# fuzzers.
BUILD_PKGS="gcc libc6-dev meson ninja-build pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev libgnutls28-dev nettle-dev libqrencode-dev libpng-dev libcurl4-openssl-dev python3"
TEST_PKGS="check curl chromium nodejs npm openssl clang libclang-rt-14-dev python3-aiosmtpd zbar-tools"

# The script's name in messages (run.sh, test.sh).
CX_SELF=${CX_SELF:-$(basename "$0")}

# fail MESSAGE...: print "NAME: FAILED: MESSAGE" on stderr and exit 1.
fail() {
  echo "$CX_SELF: FAILED: $*" >&2
  exit 1
}

# step LOG DESCRIPTION -- CMD...: run CMD with its output in LOG; on failure say what
# failed, show the last lines of LOG and exit 1. Progress goes to stderr.
step() {
  local log=$1 what=$2
  shift 3
  mkdir -p "$(dirname "$log")"
  echo "$CX_SELF: $what" >&2
  if ! "$@" >"$log" 2>&1; then
    echo "---- last lines of $log:" >&2
    tail -n 40 "$log" >&2
    echo "----" >&2
    fail "$what (full output: $log)"
  fi
}

# ensure_packages PKG...: install with apt-get those not installed yet (through sudo when
# not root). A package counts as installed when an installed package provides it (NodeSource's
# nodejs provides and conflicts with Debian's npm: installing npm there would remove node).
# Exits 1 naming the packages when it cannot.
ensure_packages() {
  local missing=() p sudo="" log provided
  provided=" $(dpkg-query -W -f='${db:Status-Abbrev}|${Package} ${Provides}\n' 2>/dev/null |
    sed -n 's/^ii *|//p' | sed 's/([^)]*)//g; s/,/ /g' | tr -s ' \n' '  ') "
  for p in "$@"; do
    case "$provided" in *" $p "*) ;; *) missing+=("$p") ;; esac
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null ||
    fail "missing packages: ${missing[*]} (no apt-get here: this script expects Debian 12; install them by hand)"
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null ||
      fail "missing packages: ${missing[*]}; not root and no sudo: run as root, or as root: apt-get install ${missing[*]}"
    sudo="sudo"
  fi
  log=${TMPDIR:-/tmp}/cxd-apt-$(id -u).log
  step "$log" "installing packages: ${missing[*]}" -- \
    $sudo env DEBIAN_FRONTEND=noninteractive sh -c \
    'apt-get update -q && apt-get install -y -q --no-install-recommends "$@"' apt "${missing[@]}"
}
