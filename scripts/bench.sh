#!/usr/bin/env bash
# `make bench`: the figures of the README. Sizes: the release build of every function
# as `wrangler deploy --dry-run` uploads it (gzip budget per function). Speed and round
# trips: tests/bench/bench.mjs against the local stack running those release builds.
# Prints the figures; exits non-zero when a budget is exceeded.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$HANGAR_ROOT"

GZIP_BUDGET_KIB=${GZIP_BUDGET_KIB:-300}

bash scripts/deploy-dry-run.sh | tee .local/bench-sizes.txt
over=$(awk -v budget="$GZIP_BUDGET_KIB" '/gzip:/ { for (i = 1; i <= NF; i++) if ($i == "gzip:") { v = $(i + 1); u = $(i + 2);
  kib = (u ~ /^MiB/) ? v * 1024 : v; if (kib > budget) print $1 " " v " " u } }' .local/bench-sizes.txt)
if [[ -n "$over" ]]; then
  echo "[bench] over the gzip budget of ${GZIP_BUDGET_KIB} KiB:"; echo "$over"; status=1
else
  echo "[bench] every function within the gzip budget of ${GZIP_BUDGET_KIB} KiB"; status=0
fi

cargo build -p hangar-runner
node tests/stack/stack.mjs test tests/bench/bench.mjs || status=1
exit "$status"
