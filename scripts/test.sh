#!/usr/bin/env bash
# Runs every test of ondes. Installs the system packages the tests need (as root, with
# apt-get) and fails loudly when it cannot: no test is ever skipped for a missing tool.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- system packages -------------------------------------------------------------------
# Every Debian package any test needs, installed in one apt-get run (one `apt-get update`).
# The sound-card capture tests: ALSA's headers to build cpal (libasound2-dev, pkg-config), and a
# private PulseAudio daemon as the paced virtual sound card, read through ALSA's `pulse` device.
# The cluster tests start their own nats-server (NATS core pub/sub between origin and edges).
# MP3 egress builds LAME from the sources bundled in mp3lame-sys (configure + make, static):
# no libmp3lame-dev, only make beside the C compiler.
PACKAGES=(ffmpeg sox espeak-ng opus-tools chromium libasound2-dev pkg-config pulseaudio pulseaudio-utils libasound2-plugins python3-venv nats-server make)
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
        echo "error: the tests need these Debian packages: ${missing[*]} (run as root or install them)" >&2
        exit 1
    fi
fi

# --- Python: aiortc, the independent WebRTC peer of the WHEP/WHIP tests ----------------------
VENV="${ONDES_VENV:-$PWD/target/py-webrtc}"
if ! "$VENV/bin/python" -c 'import aiortc, numpy' 2>/dev/null; then
    echo "==> python: aiortc into $VENV (scripts/webrtc/requirements.txt)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r scripts/webrtc/requirements.txt
fi
export ONDES_PYTHON="$VENV/bin/python"

# --- Rust ------------------------------------------------------------------------------
echo "==> cargo fmt --check"
cargo fmt --all -- --check
# with sound-card capture built in (the `capture` feature, off by default)
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked --features ondes/capture -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked --no-fail-fast --features ondes/capture

# --- web: dashboard and JS client (web/) -------------------------------------------------
# Node unit tests (jitter buffer, client logic) and browser tests in Debian's Chromium driven
# by playwright-core; the browser tests start target/debug/ondes themselves (ephemeral ports).
# Screenshots go to artifacts/ (gitignored).
if ! command -v node >/dev/null 2>&1 || (($(node -p 'process.versions.node.split(".")[0]') < 20)); then
    echo "error: the web tests need Node.js >= 20 (node and npm on PATH)" >&2
    exit 1
fi
echo "==> web: npm ci"
(cd web && npm ci --no-audit --no-fund --loglevel=error)
echo "==> web: cargo build -p ondes (the binary the browser tests run)"
cargo build -p ondes --locked --features capture
echo "==> web: node --test web/tests/"
(cd web && CHROMIUM_PATH="$(command -v chromium)" node --test --test-concurrency=1 tests/)
# --- end web ------------------------------------------------------------------------------

echo "==> all tests passed"
