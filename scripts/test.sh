#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, vet, every test with the
# race detector, the browser tests, then each fuzz target for FUZZTIME
# inputs. It installs what the tests need first (Debian's gcc for the race
# detector, awscli, coturn, nodejs, npm and chromium, and the npm packages
# of test/browser from their lockfile; test/browser/run.sh fetches Node.js
# 20 when the one installed is older), so it works on a fresh Debian
# machine with Go, as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each fuzz target runs for a number of inputs, not a duration: with a
# duration, Go 1.26's fuzzing coordinator can report its own deadline as a
# failure ("context deadline exceeded", no failing input) when a loaded
# machine delays a worker at the end (golang/go#75804, fixed in Go 1.27).
# 100,000 inputs take about 5 to 15 seconds per target here.
FUZZTIME="${FUZZTIME:-100000x}"

# ensure_command COMMAND DEBIAN_PACKAGE...: install the packages when the
# command is missing (as root, or through sudo).
apt_updated=""
ensure_command() {
  command -v "$1" >/dev/null 2>&1 && return 0
  local command="$1"; shift
  echo "== installing $* (for $command)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
# go test -race needs cgo, and Go turns cgo off when it finds no C compiler
# ("go: -race requires cgo"); a fresh Debian with Go from its release archive has none.
ensure_command gcc gcc libc6-dev
ensure_command aws awscli      # the AWS CLI, a real client of the control plane
ensure_command turnutils_uclient coturn  # a TURN client no one here wrote

echo "== checking formatting"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt wants to rewrite:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 -timeout 30m ./...

echo "== browser tests (headless Chromium driven by playwright-core)"
bash test/browser/run.sh

echo "== fuzz targets, ${FUZZTIME} each"
# Every Fuzz function in the repository, found afresh on each run so that a
# new target cannot be left out.
fuzz_targets() { # prints "PACKAGE TARGET" lines
  grep -r -o --include='*_test.go' --exclude-dir=node_modules '^func Fuzz[A-Za-z0-9_]*' . |
    sed -E 's|^(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*)$|\1 \2|' | sort -u
}
targets=$(fuzz_targets)
[ -n "$targets" ] || { echo "no fuzz targets found"; exit 1; }
while read -r pkg target; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
done <<< "$targets"
echo "== all tests passed"
