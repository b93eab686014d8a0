#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, vet, every test with the
# race detector, then each fuzz target for a short while. It installs what
# the tests need first, so it works on a fresh Debian machine with Go.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-10s}"

echo "== checking formatting"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt wants to rewrite:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 -timeout 30m ./...

echo "== fuzz targets, ${FUZZTIME} each"
fuzz() { # package target
  go test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1"
}
fuzz ./sigv4 FuzzParseAuthorization
fuzz ./sigv4 FuzzVerifyPresigned
fuzz ./sigv4 FuzzVerifyRequest
fuzz ./internal/controlplane FuzzOperations
echo "== all tests passed"
