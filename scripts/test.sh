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
# The stack runs the runner binary (simulate mode) beside the functions.
cargo build -p hangar-runner

node tests/stack/stack.mjs test "$@" || status=$?
echo "[test] $( ((status == 0)) && echo ok || echo FAILED ) in $((SECONDS - started))s"
exit "$status"
