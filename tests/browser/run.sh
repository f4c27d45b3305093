#!/usr/bin/env bash
# Browser tests of the dashboard: the real binary (SWITCHYARD_BIN, default target/debug/switchyard),
# Debian's Chromium (CHROMIUM, default /usr/bin/chromium) driven by playwright-core.
# SCREENSHOTS_DIR=dir saves 1280x800 PNGs of the main pages there.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund
fi
exec node --test --test-reporter=spec ./*.test.js
