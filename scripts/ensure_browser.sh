#!/usr/bin/env bash
# Install Debian's chromium for the browser tests when it is missing (Playwright drives it).
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  echo "Installing chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q chromium
fi
# axe-core checks the pages' accessibility in the browser tests (injected from this folder, never a CDN).
if [ ! -f .cache/axe/node_modules/axe-core/axe.min.js ]; then
  echo "Installing axe-core for the accessibility tests"
  command -v npm >/dev/null || { apt-get update -q && apt-get install -y -q npm; }
  npm install --prefix .cache/axe --no-audit --no-fund --silent axe-core@4
fi
