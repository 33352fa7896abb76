#!/usr/bin/env bash
# Installs what the report's browser tests need, idempotently: Debian's Chromium (and a font
# so text renders the same on every machine) and Playwright for Python in the project venv.
# Playwright only drives the Debian browser (executable_path=/usr/bin/chromium); its own
# browser download (`playwright install`) is never run: there is no network for it.
# Usage: bash .ci/chromium.sh [VENV]   (default .venv)
set -euo pipefail

VENV=${1:-.venv}

if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-dejavu-core >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

if ! "$VENV/bin/python" -c "import playwright.sync_api" >/dev/null 2>&1; then
  "$VENV/bin/pip" install --quiet "playwright>=1.45,<2"
fi

echo "chromium.sh: $(chromium --version 2>/dev/null | head -n1); playwright $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("playwright"))')"
