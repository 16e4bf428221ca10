#!/usr/bin/env bash
# Install Debian's chromium for the browser tests when it is missing (Playwright drives it).
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  echo "Installing chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q chromium
fi
