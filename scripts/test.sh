#!/usr/bin/env bash
# Runs every test of ondes. Installs the system packages the tests need (as root, with
# apt-get) and fails loudly when it cannot: no test is ever skipped for a missing tool.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- system packages -------------------------------------------------------------------
# tool -> Debian package
declare -A PKG=([ffmpeg]=ffmpeg [sox]=sox [espeak-ng]=espeak-ng [opusenc]=opus-tools)
missing=()
for tool in "${!PKG[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${PKG[$tool]}")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "==> installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "error: the tests need these Debian packages: ${missing[*]} (run as root or install them)" >&2
        exit 1
    fi
fi

# --- Rust ------------------------------------------------------------------------------
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked
echo "==> all tests passed"
