#!/usr/bin/env bash
# Runs every test of the workspace. Installs what the tests need when it is missing
# (Debian packages, only when running as root).
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkg() { # need_pkg COMMAND PACKAGE...
    if ! command -v "$1" >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "installing $*" >&2
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${@:2}" >/dev/null
        else
            echo "warning: $1 is missing and cannot be installed here" >&2
        fi
    fi
}

cargo test --workspace --all-features --all-targets
cargo test --workspace --all-features --doc
