#!/usr/bin/env bash
# Build the function crates to Workers bundles.
#
#   scripts/build-functions.sh [PROFILE] [NAME...]
#
# PROFILE: e2e (default; tests and `make dev`) or release (deploy, benchmarks);
# both are cargo profiles of the root Cargo.toml. NAME: function folders under
# functions/ (default: all of them).
#
# Output: functions/<name>/build/{index.js,index_bg.wasm}. Each profile's
# output is also kept in target/worker-build/<profile>/<name>, so switching
# between `make test` (e2e) and `make deploy-dry-run` (release) copies instead
# of rebuilding. A function is rebuilt only when a file it depends on
# (functions/<name>, shared/, Cargo.toml, Cargo.lock, this script) is newer
# than its last build for that profile.
#
# Env: HANGAR_WASM_OPT=0|1 overrides whether wasm-opt runs (default: release
# only; see WASM_OPT below). HANGAR_FORCE_BUILD=1 rebuilds everything.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$HANGAR_ROOT"

PROFILE="${1:-e2e}"
shift || true
case "$PROFILE" in
  release | e2e | dev) ;;
  *)
    echo "usage: $0 [e2e|release] [function...]" >&2
    exit 2
    ;;
esac

if (($#)); then names=("$@"); else mapfile -t names < <(hangar_functions); fi
if ((${#names[@]} == 0)); then
  echo "[build] no function crates under functions/" >&2
  exit 1
fi
for n in "${names[@]}"; do
  [[ -f "functions/$n/Cargo.toml" ]] || { echo "[build] no such function: $n" >&2; exit 2; }
done

# wasm-opt (binaryen from npm, itself compiled to wasm) takes ~17 s of CPU per
# e2e function: the e2e profile skips it, the release profile (what ships) runs it.
if [[ -n "${HANGAR_WASM_OPT:-}" ]]; then
  WASM_OPT="$HANGAR_WASM_OPT"
elif [[ "$PROFILE" == release ]]; then
  WASM_OPT=1
else
  WASM_OPT=0
fi

TARGET_DIR="${CARGO_TARGET_DIR:-$HANGAR_ROOT/target}"
CACHE="$TARGET_DIR/worker-build/$PROFILE"
mkdir -p "$CACHE"

# Which functions are stale? The stamp is written after a successful build and
# records the options; any newer source file makes the function stale.
options="profile=$PROFILE wasm_opt=$WASM_OPT"
stale=()
for n in "${names[@]}"; do
  stamp="$CACHE/$n/.hangar-stamp"
  if [[ -n "${HANGAR_FORCE_BUILD:-}" || ! -f "$stamp" || "$(cat "$stamp")" != "$options" ]]; then
    stale+=("$n")
    continue
  fi
  newer="$(find "functions/$n" shared protocol docs Cargo.toml Cargo.lock scripts/build-functions.sh scripts/worker-entry.js \
    -path "functions/$n/build" -prune -o -newer "$stamp" -type f -print -quit 2>/dev/null)"
  [[ -n "$newer" ]] && stale+=("$n")
done

started=$SECONDS
if ((${#stale[@]})); then
  # Sources edited while this build runs must still count as newer: stamps
  # take the time the build started, not the time it ended.
  marker="$CACHE/.started"
  touch "$marker"
  echo "[build] $PROFILE: ${stale[*]}"
  # One cargo invocation for every stale function: shared dependencies compile
  # once and the links run in parallel. WASM_BINDGEN_USE_JS_SYS=1 is what
  # worker-build sets for its own cargo call; the wasm-bindgen macro reads it
  # untracked by cargo, so it must be the same here or the code would differ.
  pkgs=()
  for n in "${stale[@]}"; do pkgs+=(-p "$(hangar_package_name "$n")"); done
  if [[ "$PROFILE" == dev ]]; then prof=(); else prof=(--profile "$PROFILE"); fi
  WASM_BINDGEN_USE_JS_SYS=1 cargo build --lib --target wasm32-unknown-unknown "${prof[@]}" "${pkgs[@]}"

  # worker-build per function: its cargo step now finds everything fresh (a
  # no-op unless the functions enable different features of a shared
  # dependency, in which case it relinks with this crate's own features), then
  # wasm-bindgen, the JS shim, esbuild and (release) wasm-opt.
  case "$PROFILE" in
    release) wb_profile=(--release) ;;
    dev) wb_profile=(--dev) ;;
    *) wb_profile=(--profile "$PROFILE") ;;
  esac
  wb_opt=()
  [[ "$WASM_OPT" == 1 ]] || wb_opt=(--no-opt)
  worker_build() { # one function; output in its log, stamp on success
    local n="$1" out="$CACHE/$1"
    rm -rf "$out"
    if (cd "functions/$n" && worker-build "${wb_profile[@]}" "${wb_opt[@]}" --out-dir "$out") >"$CACHE/$n.log" 2>&1; then
      # The Worker's entry: a panic still answers the envelope (scripts/worker-entry.js).
      cp scripts/worker-entry.js "$out/entry.js"
      # Sizes once, here (gzip -9 of every bundle on every run costs seconds):
      # what Cloudflare limits is the gzipped upload (wasm + JS).
      printf '%s %s %s %s\n' \
        "$(stat -c %s "$out/index_bg.wasm")" "$(gzip -9 -c "$out/index_bg.wasm" | wc -c)" \
        "$(stat -c %s "$out/index.js")" "$(cat "$out/index.js" "$out/index_bg.wasm" | gzip -9 -c | wc -c)" \
        >"$out/.hangar-sizes"
      printf '%s' "$options" >"$out/.hangar-stamp"
      touch -r "$marker" "$out/.hangar-stamp"
    else
      cat "$CACHE/$n.log" >&2
      echo "[build] worker-build failed for $n" >&2
      return 1
    fi
  }
  # Single-threaded steps (wasm-bindgen, esbuild, wasm-opt): one per core.
  jobs_max="${HANGAR_BUILD_JOBS:-$(nproc)}"
  failed=0 running=0
  for n in "${stale[@]}"; do
    if ((running >= jobs_max)); then
      wait -n || failed=1
      running=$((running - 1))
    fi
    worker_build "$n" &
    running=$((running + 1))
  done
  while ((running > 0)); do
    wait -n || failed=1
    running=$((running - 1))
  done
  ((failed == 0)) || exit 1
fi

# Publish the requested profile's output where wrangler.toml and the stack look.
for n in "${names[@]}"; do
  dest="functions/$n/build"
  if [[ ! -f "$dest/.hangar-stamp" ]] || ! cmp -s "$dest/.hangar-stamp" "$CACHE/$n/.hangar-stamp" \
    || [[ "$CACHE/$n/.hangar-stamp" -nt "$dest/.hangar-stamp" || "$CACHE/$n/.hangar-stamp" -ot "$dest/.hangar-stamp" ]]; then
    rm -rf "$dest"
    cp -a "$CACHE/$n" "$dest"
  fi
done

printf '[build] %s in %ds\n' "$PROFILE" $((SECONDS - started))
printf '%-24s %10s %10s %10s %10s\n' function wasm wasm.gz js upload.gz
for n in "${names[@]}"; do
  # shellcheck disable=SC2046
  printf '%-24s %10s %10s %10s %10s\n' "$n" $(cat "functions/$n/build/.hangar-sizes" 2>/dev/null || echo - - - -)
done
