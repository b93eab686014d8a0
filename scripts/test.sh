#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, vet, every test with the
# race detector, then each fuzz target for a short while. It installs what
# the tests need first, so it works on a fresh Debian machine with Go.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each fuzz target runs for a number of inputs, not a duration: with a
# duration, Go 1.26's fuzzing coordinator can report its own deadline as a
# failure ("context deadline exceeded", no failing input) when a loaded
# machine delays a worker at the end (golang/go#75804, fixed in Go 1.27).
# 100,000 inputs take about 5 to 15 seconds per target here.
FUZZTIME="${FUZZTIME:-100000x}"

# ensure_command COMMAND DEBIAN_PACKAGE: install the package when the command
# is missing (as root, or through sudo).
apt_updated=""
ensure_command() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "== installing $2 (for $1)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}
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
fuzz() { # package target
  go test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1"
}
fuzz ./sigv4 FuzzParseAuthorization
fuzz ./sigv4 FuzzVerifyPresigned
fuzz ./sigv4 FuzzVerifyRequest
fuzz ./internal/controlplane FuzzOperations
fuzz ./internal/signaling FuzzDecodeClientMessage
fuzz ./internal/signaling FuzzDecodeFastMatchesJSON
fuzz ./client/media FuzzReaders
fuzz ./client/media FuzzIsKeyFrame
fuzz ./internal/wsserver FuzzNext
echo "== all tests passed"
