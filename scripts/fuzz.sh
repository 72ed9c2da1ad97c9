#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 60), one after the other, and
# prints libFuzzer's final stats. A crash stops the run with the input saved under
# fuzz/artifacts/<target>/: add it to fuzz/reproducers/<target>/ once fixed, and `cargo test`
# replays it from then on.
#
# Stable Rust is enough (`-s none`: no sanitizer; libopus is built with its hardening checks,
# which abort on a broken invariant). libopus's C code is compiled by clang with libFuzzer's
# coverage instrumentation so that the fuzzer is guided inside the C decoder too; clang and
# cargo-fuzz are installed when missing (or the script fails saying so).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

PACKAGES=(clang)
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "==> installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "error: fuzzing needs these Debian packages: ${missing[*]} (run as root or install them)" >&2
        exit 1
    fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> cargo install cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# clang with libFuzzer's coverage instrumentation on compilations only (see fuzz/cc.sh)
export CC="$PWD/fuzz/cc.sh"
for target in $(cargo fuzz list --fuzz-dir fuzz); do
    echo "==> $target for ${seconds} s"
    mkdir -p "fuzz/corpus/$target"
    # -rss_limit_mb / -malloc_limit_mb: an input that makes a decoder allocate without bound
    # is a crash too
    cargo fuzz run --fuzz-dir fuzz -s none "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=512 -malloc_limit_mb=128 -print_final_stats=1
done
echo "==> fuzzing done: no crash"
