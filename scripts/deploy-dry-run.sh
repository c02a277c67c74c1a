#!/usr/bin/env bash
# `make deploy-dry-run`: what `wrangler deploy` would upload for every function
# (release profile), offline, with the gzip size Cloudflare's limit applies to.
#
#   scripts/deploy-dry-run.sh [function...]
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$HANGAR_ROOT"

if (($#)); then names=("$@"); else mapfile -t names < <(hangar_functions); fi

# One release build for all of them first (one cargo invocation, parallel
# links); the [build] command wrangler runs per function then finds it fresh.
bash scripts/build-functions.sh release "${names[@]}"

out="$HANGAR_ROOT/.local/dry-run"
rm -rf "$out"
mkdir -p "$out"
summary=()
for n in "${names[@]}"; do
  log="$out/$n.log"
  if ! node_modules/.bin/wrangler deploy --dry-run --env "$n" --outdir "$out/$n" >"$log" 2>&1; then
    cat "$log" >&2
    echo "[dry-run] wrangler failed for $n" >&2
    exit 1
  fi
  size="$(grep -o 'Total Upload: .*' "$log" | tail -1)"
  [[ -n "$size" ]] || { cat "$log" >&2; echo "[dry-run] no 'Total Upload' line for $n" >&2; exit 1; }
  summary+=("$(printf '%-24s %s' "$n" "$size")")
done
echo "[dry-run] wrangler deploy --dry-run (release profile; logs in .local/dry-run/)"
printf '%s\n' "${summary[@]}"
