#!/usr/bin/env bash
# What `make test-ui` needs beyond `make install`, installed only when missing (safe to rerun):
# Debian's chromium package (apt-get; as root or through sudo) and the pinned Playwright package
# (requirements-ui.lock) in the virtualenv. Playwright's own browser download is never used: the
# test starts the system chromium (tests/ui/ui_helpers.py, chromium_path), so only the package registries are needed.
# Usage: scripts/ui_test_setup.sh [PYTHON]   (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-.venv/bin/python}

if [ -n "${LOOPWISE_CHROMIUM:-}" ]; then
    test -x "$LOOPWISE_CHROMIUM" || { echo "LOOPWISE_CHROMIUM=$LOOPWISE_CHROMIUM is not executable" >&2; exit 1; }
elif ! command -v chromium >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "chromium is missing: install Debian's chromium package as root, or set LOOPWISE_CHROMIUM" >&2
            exit 1
        }
        sudo="sudo"
    fi
    echo "Installing Debian's chromium package (apt-get)..."
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

# pip checks the pins against what is installed and downloads only on a mismatch.
"$PYTHON" -m pip install --quiet --disable-pip-version-check -r requirements-ui.lock
