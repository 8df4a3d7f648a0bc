#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, property and doc tests, the
# README's snippets, the Redis tests against a real redis-server and the browser test
# against a real headless Chromium, and the npm `eventsource` client under Node.js.
# Installs redis-server, chromium and Node.js from Debian's packages when they are
# missing and this runs as root, and the npm package from its lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { # need COMMAND PACKAGE...
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing ${*:2}" >&2
        apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${@:2}" >/dev/null
    else
        echo "test.sh: $1 is missing; install ${*:2} (tests that need it will fail)" >&2
    fi
}

need redis-server redis-server
need chromium chromium
need node nodejs
need npm npm
need nginx nginx-light
# The npm `eventsource` package that a test runs against (pinned by the lock file).
if [ ! -d sse-testkit/node/node_modules/eventsource ]; then
    npm ci --prefix sse-testkit/node --no-audit --no-fund >/dev/null
fi

cargo test --workspace --all-features --all-targets
cargo test --workspace --all-features --doc
