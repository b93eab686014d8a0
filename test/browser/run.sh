#!/usr/bin/env bash
# Browser tests of the web console, as CI runs them. Installs what is
# missing on a fresh Debian machine (Debian's chromium package; the npm
# packages pinned by package-lock.json), builds the server, then runs every
# test here with Node's built-in test runner. Screenshots are written to
# ci-artifacts/console/ (UPDATE_DOCS_SCREENSHOTS=1 also refreshes the copies
# in docs/screenshots/ that the README shows).
#
# Environment: SBDEV_BIN to test a binary already built,
# CHROMIUM_PATH for a Chromium other than /usr/bin/chromium.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

as_root=""
[ "$(id -u)" = 0 ] || as_root="sudo"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "== installing nodejs and npm (Debian packages)"
  $as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq nodejs npm >/dev/null
fi
# playwright-core needs Node.js 20 or newer. Debian 12 packages Node.js 18;
# where that is what runs, npm fetches Node.js 20 from the npm registry
# (the node-linux-<arch> package) into test/browser/.node and it is used
# for this run only.
node_major() { node -p 'process.versions.node.split(".")[0]'; }
if [ "$(node_major)" -lt 20 ]; then
  case "$(uname -m)" in
    x86_64) node_arch=x64 ;;
    aarch64) node_arch=arm64 ;;
    *) echo "run.sh: Node.js 20 or newer is needed and none is packaged for $(uname -m); this is $(node --version)" >&2; exit 1 ;;
  esac
  node_prefix="$here/.node"
  if [ ! -x "$node_prefix/node_modules/node-linux-$node_arch/bin/node" ]; then
    echo "== Node.js $(node --version) is too old; installing node-linux-$node_arch@20.20.2 with npm"
    npm install --prefix "$node_prefix" --no-save --no-audit --no-fund --loglevel=error "node-linux-$node_arch@20.20.2"
  fi
  export PATH="$node_prefix/node_modules/node-linux-$node_arch/bin:$PATH"
  if [ "$(node_major)" -lt 20 ]; then
    echo "run.sh: Node.js 20 or newer is needed; still running $(node --version)" >&2
    exit 1
  fi
fi

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "== installing chromium (Debian package)"
  $as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq chromium >/dev/null
fi

# npm ci when node_modules is missing or was installed from another lockfile.
lock_sum="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
stamp="$here/node_modules/.switchboard-lock-sha256"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  echo "== npm ci (test/browser)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > "$stamp"
fi

if [ -z "${SBDEV_BIN:-}" ]; then
  bindir="$(mktemp -d)"
  trap 'rm -rf "$bindir"' EXIT
  echo "== go build ./cmd/switchboard"
  go build -o "$bindir/switchboard" ./cmd/switchboard
  export SBDEV_BIN="$bindir/switchboard"
fi

echo "== node --test test/browser/"
node --test --test-reporter=spec test/browser/
