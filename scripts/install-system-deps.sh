#!/usr/bin/env bash
# Installs the Debian packages twinbench's tests and scenarios need.
# Idempotent: when every package is present it returns in well under a second.
# Called by `.ci/run` and by the nox sessions; never needed by hand.
set -euo pipefail

# binary-to-check:debian-package
wanted=(
  "mbpoll:mbpoll"
  "/usr/lib/postgresql/*/bin/initdb:postgresql"
  "influxd:influxdb"
  "promtool:prometheus"
  "/usr/bin/chromium:chromium"
  "npm:npm"
)

missing=()
for entry in "${wanted[@]}"; do
  probe="${entry%%:*}"
  pkg="${entry##*:}"
  if [[ "$probe" == /* ]]; then
    # shellcheck disable=SC2086
    compgen -G $probe >/dev/null || missing+=("$pkg")
  else
    command -v "$probe" >/dev/null 2>&1 || missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: need Debian packages ${missing[*]} but apt-get is not available;" >&2
  echo "install them with your system's package manager and re-run." >&2
  exit 1
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
echo "install-system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
