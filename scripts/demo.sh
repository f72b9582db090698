#!/usr/bin/env bash
# npm run demo: set up, build, install the extension, then run the demo (Ctrl-C to stop).
# Arguments are passed to the demo (--once prints the report and exits).
set -euo pipefail

cd "$(dirname "$0")/.."

make_vars=()
if [[ -n "${PG_CONFIG:-}" ]]; then make_vars+=("PG_CONFIG=$PG_CONFIG"); fi

bash scripts/setup.sh
npx tsc -p tsconfig.build.json
make -C fdw "${make_vars[@]}" >/dev/null
if [[ $(id -u) -eq 0 ]]; then
  make -C fdw "${make_vars[@]}" install >/dev/null
else
  echo "demo: not root, skipping 'make -C fdw install' (the extension must already be installed)" >&2
fi

exec node dist/scripts/demo.js "$@"
