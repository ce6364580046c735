# Install Debian's headless-capable Chromium and its matching chromedriver for the report test.
#
# Usage:  source .ci/setup-browser.sh   or   bash .ci/setup-browser.sh
# Idempotent: does nothing when both binaries are already on PATH. Never calls `exit`, so it is
# safe to source.

_biril_browser_setup() {
    if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" != "0" ]; then
        echo "setup-browser: chromium/chromedriver are absent and installing them needs root" >&2
        return 1
    fi
    echo "setup-browser: installing Debian's chromium and chromium-driver" >&2
    apt-get update -qq >&2 \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2 \
        || { echo "setup-browser: apt-get install chromium chromium-driver failed" >&2; return 1; }
}

_biril_browser_setup
