#!/usr/bin/env bash
# The web console (console/README.md): type-check, then build.
#   scripts/build-console.sh stack        console/dist-stack: the local stack's build (reads
#                                         /config.json at run time; has the test sign-in)
#   scripts/build-console.sh production   console/dist: configured by VITE_FUNCTIONS_URL,
#                                         VITE_SUPABASE_URL, VITE_SUPABASE_ANON_KEY,
#                                         VITE_AUTH_PROVIDERS (scripts/deploy-console.mjs sets them)
#   scripts/build-console.sh              both (make test)
#   scripts/build-console.sh types        regenerate console/src/api/openapi.d.ts from
#                                         docs/openapi.json (tests/e2e/static/console.test.mjs
#                                         holds the checked-in file to it)
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$HANGAR_ROOT/console"
bin="$HANGAR_ROOT/node_modules/.bin"
if [[ "${1:-}" == types ]]; then
  "$bin/openapi-typescript" ../docs/openapi.json -o src/api/openapi.d.ts
  exit
fi
"$bin/tsc" -p tsconfig.json
for mode in "${@:-stack production}"; do
  for m in $mode; do
    echo "[console] vite build --mode $m"
    "$bin/vite" build --mode "$m" --logLevel warn
  done
done
