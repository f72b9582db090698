#!/usr/bin/env bash
# npm test: set up, lint, type-check and build, build and install the extension, run vitest, and
# close with "N passed, N failed, N skipped" counted from vitest's JSON report.
set -uo pipefail

cd "$(dirname "$0")/.."
REPORT=.tmp/vitest.json
mkdir -p .tmp
rm -f "$REPORT"

abort() {
  echo "test: $*" >&2
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
}

make_vars=()
if [[ -n "${PG_CONFIG:-}" ]]; then make_vars+=("PG_CONFIG=$PG_CONFIG"); fi

bash scripts/setup.sh || abort "setup failed"

lint_failures=0
if ! npx biome check .; then
  echo "test: biome check failed" >&2
  lint_failures=1
fi

npx tsc -p tsconfig.json || abort "type check failed"
npx tsc -p tsconfig.build.json || abort "build failed"

# Warnings are errors here (COPT=-Werror), not in the Makefile users build with.
make -C fdw "${make_vars[@]}" COPT=-Werror || abort "make -C fdw failed"
if [[ $(id -u) -eq 0 ]]; then
  make -C fdw "${make_vars[@]}" install || abort "make -C fdw install failed"
else
  echo "test: not root, skipping 'make -C fdw install' (the extension must already be installed)" >&2
fi

npx vitest run
vitest_exit=$?

node scripts/count-results.mjs "$REPORT" "$vitest_exit" "$lint_failures"
