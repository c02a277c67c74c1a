#!/usr/bin/env bash
# `make bench`: the figures of the README, each checked against its budget. Never part of
# `make test` (timings are measured here, not asserted in tests).
#
#   1. sizes       every function's release build as `wrangler deploy --dry-run` uploads it:
#                  gzip <= GZIP_BUDGET_KIB (200) each
#   2. cold start  compile + instantiate of each release wasm in node:
#                  <= BENCH_COLD_BUDGET_MS (30) each (tests/bench/cold.mjs)
#   3. CPU         own cost per request of get-machine-status and start-machine, Rust vs
#                  the TypeScript Worker (tests/bench/ts-worker) vs a trivial Worker, at
#                  saturation against an instant upstream: Rust <= TypeScript
#                  (tests/bench/cpu.mjs), with what each step costs
#   4. latency     p50/p99 per function against the local stack, and the same PostgREST
#                  call made directly; round trips <= 1 (tests/bench/bench.mjs)
#   5. console     first-load JavaScript <= 250 KB gzip; the machines page with 100 machines
#                  ready within 1 s of navigation, in Chromium (tests/bench/console.mjs)
#   6. engine      create → running and creates/s with 1 and 3 runners, simulate and
#                  terraform (the test module, pg backend), and the reaper's takeover of a
#                  killed runner's jobs (tests/bench/engine.mjs); figures, no budget
#
# Prints every figure; exits non-zero when a budget is exceeded (or a part fails to run).
# Results also land in .local/bench/*.json. Env: BENCH_SKIP="sizes cold cpu latency console" skips
# parts (without sizes, the last release builds are measured as they are).
# BENCH_SKIP="... engine" skips the engine figures.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$HANGAR_ROOT"

GZIP_BUDGET_KIB=${GZIP_BUDGET_KIB:-200}
OUT="$HANGAR_ROOT/.local/bench"
mkdir -p "$OUT"
failed=()
skip() { [[ " ${BENCH_SKIP:-} " == *" $1 "* ]]; }

# ---- 1. sizes ---------------------------------------------------------------------------
if skip sizes; then
  echo "[bench] sizes: skipped (BENCH_SKIP); the other parts use the last release builds"
else
node scripts/deploy.mjs --stage production --dry-run | tee "$OUT/sizes.txt"
over=$(awk -v budget="$GZIP_BUDGET_KIB" '/gzip:/ { for (i = 1; i <= NF; i++) if ($i == "gzip:") { v = $(i + 1); u = $(i + 2);
  kib = (u ~ /^MiB/) ? v * 1024 : v; if (kib > budget) print $1 " " v " " u } }' "$OUT/sizes.txt")
if [[ -n "$over" ]]; then
  echo "[bench] sizes: over the gzip budget of ${GZIP_BUDGET_KIB} KiB:"
  echo "$over"
  failed+=(sizes)
else
  echo "[bench] sizes: every function within the gzip budget of ${GZIP_BUDGET_KIB} KiB"
fi
fi

# The release builds the other parts measure, copied out of the build cache: a concurrent
# `make test` (e2e profile) may republish functions/*/build at any time.
release="${CARGO_TARGET_DIR:-$HANGAR_ROOT/target}/worker-build/release"
rm -rf "$OUT/rust"
mkdir -p "$OUT/rust"
while read -r n; do cp -a "$release/$n" "$OUT/rust/$n"; done < <(hangar_functions)

# ---- 2. cold start ----------------------------------------------------------------------
if ! skip cold; then
  node tests/bench/cold.mjs "$OUT/rust" --out "$OUT/cold.json" || failed+=(cold-start)
fi

# ---- 3. CPU: Rust vs TypeScript vs trivial ----------------------------------------------
if ! skip cpu; then
  # wrk drives the load (scripts/setup.sh installs it: `make bench` runs setup first).
  command -v wrk >/dev/null || { echo "[bench] wrk is missing: run make setup (apt-get install wrk)" >&2; exit 1; }
  ts=tests/bench/ts-worker
  if [[ ! -d "$ts/node_modules/@supabase/supabase-js" || "$ts/package-lock.json" -nt "$ts/node_modules" ]]; then
    npm ci --prefix "$ts" --no-audit --no-fund --loglevel=error
  fi
  node "$ts/build.mjs"
  # workerd on core 0 (inherited from this node), wrk and the upstream on core 1.
  pin=()
  if command -v taskset >/dev/null && (($(nproc) >= 2)); then pin=(taskset -c 0); fi
  "${pin[@]}" node tests/bench/cpu.mjs --rust "$OUT/rust" --ts "$ts/dist/index.js" --out "$OUT/cpu.json" || failed+=(cpu)
fi

# ---- 4. latency against the local stack -------------------------------------------------
if ! skip latency; then
  cargo build -p hangar-runner
  BENCH_RUST_DIR="$OUT/rust" BENCH_OUT="$OUT/latency.json" node tests/stack/stack.mjs test tests/bench/bench.mjs || failed+=(latency)
fi

# ---- 5. the web console -----------------------------------------------------------------
if ! skip console; then
  bash scripts/build-console.sh
  cargo build -p hangar-runner
  BENCH_CONSOLE_OUT="$OUT/console.json" node tests/stack/stack.mjs test tests/bench/console.mjs || failed+=(console)
fi

# ---- 6. the provisioning engine ---------------------------------------------------------
if ! skip engine; then
  cargo build -p hangar-runner
  BENCH_OUT="$OUT/engine.json" node tests/stack/stack.mjs test tests/bench/engine.mjs || failed+=(engine)
fi

if ((${#failed[@]})); then
  echo "[bench] FAILED: ${failed[*]}"
  exit 1
fi
echo "[bench] every budget met"
