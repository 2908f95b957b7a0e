#!/usr/bin/env bash
# Installs the pinned AWS SDK for JavaScript (tests/js/package-lock.json) for the JS SDK test when missing.
set -euo pipefail
cd "$(dirname "$0")/js"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup-js: node/npm missing; the JavaScript SDK test will be skipped" >&2
  exit 0
fi
want=$(node -p "require('./package.json').dependencies['@aws-sdk/client-bedrock-runtime']")
have=$(node -p "try { require('./node_modules/@aws-sdk/client-bedrock-runtime/package.json').version } catch { '' }")
if [ "$want" = "$have" ]; then exit 0; fi
echo "setup-js: installing @aws-sdk/client-bedrock-runtime $want (npm ci) for the JavaScript SDK test" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
