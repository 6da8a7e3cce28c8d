#!/usr/bin/env bash
# Installs node-opcua-client (an independent OPC UA stack, for interop tests) into
# <repo>/.cache/node-opcua, which git ignores. Idempotent; needs node + npm.
# Usage: tests/sim/interop/install_node_opcua.sh   -> prints the node_modules path
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
dest="$root/.cache/node-opcua"
version="2.186.4"
if [[ -f "$dest/node_modules/node-opcua-client/package.json" ]] &&
   grep -q "\"version\": \"$version\"" "$dest/node_modules/node-opcua-client/package.json"; then
  echo "$dest/node_modules"
  exit 0
fi
command -v npm >/dev/null || { echo "install_node_opcua: npm not found" >&2; exit 1; }
mkdir -p "$dest"
cd "$dest"
[[ -f package.json ]] || npm init -y >/dev/null
npm install --no-audit --no-fund --silent "node-opcua-client@$version" >&2
echo "$dest/node_modules"
