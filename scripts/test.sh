#!/usr/bin/env bash
# `make test`: native unit tests, then the functions built with the e2e
# profile, then the e2e suite against a fresh local stack on free ports (the
# stack is stopped whatever happens). Exits non-zero if any part failed; the
# e2e suite still runs when the native tests failed, so one run shows both.
#
#   scripts/test.sh [e2e test files, folders or globs...]
#   scripts/test.sh --native-only
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$HANGAR_ROOT"

status=0
started=$SECONDS

# Native tests: every workspace member but the wasm-only function crates.
excludes=()
while read -r n; do excludes+=(--exclude "$(hangar_package_name "$n")"); done < <(hangar_functions)
echo "[test] cargo test --workspace ${excludes[*]}"
cargo test --workspace "${excludes[@]}" || status=$?
[[ "${1:-}" == --native-only ]] && exit "$status"

bash scripts/build-functions.sh e2e
# The web console: both builds (the stack serves dist-stack; tests/e2e/static checks dist).
bash scripts/build-console.sh || status=1
# `make deploy DRY_RUN=1` for both stages, on the e2e build just made: the stage
# configurations and bundles wrangler would upload (release sizes: `make bench`).
mkdir -p "$HANGAR_ROOT/.local"
for stage in production staging; do
  node scripts/deploy.mjs --stage "$stage" --dry-run --profile e2e >"$HANGAR_ROOT/.local/deploy-$stage.log" 2>&1 ||
    { cat "$HANGAR_ROOT/.local/deploy-$stage.log"; echo "[test] make deploy DRY_RUN=1 STAGE=$stage failed"; status=1; }
done
# The stack runs the runner binary (simulate mode) beside the functions.
cargo build -p hangar-runner

node tests/stack/stack.mjs test "$@" || status=$?
echo "[test] $( ((status == 0)) && echo ok || echo FAILED ) in $((SECONDS - started))s"
exit "$status"
