#!/usr/bin/env bash
# Installs Debian's headless chromium for the report's browser test when it is missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-browser: chromium missing and apt-get unavailable; browser tests will be skipped" >&2
  exit 0
fi
echo "setup-browser: installing chromium (Debian package) for the report's browser test" >&2
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
