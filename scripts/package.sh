#!/usr/bin/env bash
# Packages every publishable crate (`cargo package --no-verify`: verifying would
# resolve `sse-core` and `sse-codec` to other projects of those names on crates.io)
# and checks what each package holds: both licenses and a readme, and no test that
# needs the unpublished sse-testkit. Every other workspace member must say
# `publish = false`.
set -euo pipefail
cd "$(dirname "$0")/.."
crates=(sse-codec sse-core sse-http sse-axum sse-warp sse-hyper sse-redis)
for member in */Cargo.toml; do
  name=$(dirname "$member")
  if [[ " ${crates[*]} " != *" $name "* ]] && ! grep -q '^publish = false' "$member"; then
    echo "package.sh: $name is neither published nor marked publish = false" >&2
    exit 1
  fi
done
args=()
for crate in "${crates[@]}"; do args+=(-p "$crate"); done
cargo package "${args[@]}" --no-verify --allow-dirty --quiet
out="${CARGO_TARGET_DIR:-target}/package"
for crate in "${crates[@]}"; do
  file="$out/$crate-0.1.0.crate"
  files=$(tar tzf "$file")
  for needed in LICENSE-MIT LICENSE-APACHE README.md; do
    grep -qx "$crate-0.1.0/$needed" <<<"$files" || { echo "package.sh: $crate lacks $needed" >&2; exit 1; }
  done
  for test in $(grep -E "^$crate-0.1.0/(tests|benches)/.*\.rs$" <<<"$files" || true); do
    if tar xzf "$file" -O "$test" | grep -q sse_testkit; then
      echo "package.sh: $crate ships $test, which needs sse-testkit" >&2
      exit 1
    fi
  done
done
echo "package.sh: ${#crates[@]} crates package"
