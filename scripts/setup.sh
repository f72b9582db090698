#!/usr/bin/env bash
# Install what building and testing pg_meminfo needs, when it is missing. Safe to run again.
set -euo pipefail

cd "$(dirname "$0")/.."

# Debian packages: the PostgreSQL 15 server and its headers (PGXS), a C toolchain, ps/pgrep, runuser,
# valgrind (the memcheck test of the extension), pg_cron (scheduled snapshots), Prometheus and promtool
# (the metrics tests), strace (a scrape of the metrics reads nothing), tmux (the terminal tests of top)
# and Chromium (the HTML report's tests).
packages=(postgresql-15 postgresql-server-dev-15 build-essential gcc make procps util-linux valgrind
  postgresql-15-cron prometheus strace tmux chromium)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ! id -u postgres >/dev/null 2>&1; then
  echo "setup: the OS user 'postgres' does not exist (it comes with postgresql-15)" >&2
  exit 1
fi

if ! command -v node >/dev/null 2>&1; then
  echo "setup: Node.js 20 or later is required (node not found)" >&2
  exit 1
fi

# Dependencies: npm ci when node_modules is missing or older than package-lock.json.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund </dev/null
fi
