#!/usr/bin/env bash
# Installs the browser packages the trend viewer serves (uPlot) into node_modules/
# at the versions locked in package-lock.json. Idempotent: when node_modules holds
# the locked versions it returns at once. Called by the nox sessions that need it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -f node_modules/uplot/package.json ]] &&
  [[ node_modules/.package-lock.json -nt package-lock.json ]]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install-npm-deps: npm is needed for the trend viewer's uPlot; install Node.js/npm" >&2
  echo "(Debian: apt-get install npm) and re-run." >&2
  exit 1
fi
echo "install-npm-deps: installing uPlot into node_modules/" >&2
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
