#!/usr/bin/env bash
# Install what the browser test (tests/e2e/test_connection_form.py) drives: Debian's chromium and
# chromium-driver. Idempotent: apt runs only when one of them is missing. Needs root (or sudo) and a Debian
# mirror; no browser or driver is ever downloaded from elsewhere. Used by .ci/run.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-browser.sh: chromium or chromedriver is missing and this is not root (no sudo):" \
            "install the Debian packages chromium and chromium-driver" >&2
        exit 1
    fi
    sudo="sudo"
fi
start=$(date +%s)
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
echo "install-browser.sh: chromium and chromium-driver installed in $(( $(date +%s) - start ))s"
