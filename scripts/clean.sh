#!/usr/bin/env bash
# `make clean`: remove function builds and local stack data. Compiled Rust in
# target/ (other than the worker-build output cache) stays: never cargo clean.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$HANGAR_ROOT"

# A running `make dev` owns .local/dev: refuse rather than pull its database away.
if [[ -f .local/stack.env ]]; then
  pid="$(sed -n 's/^HANGAR_STACK_PID=//p' .local/stack.env)"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    echo "[clean] the dev stack (pid $pid) is running: stop it first (Ctrl-C)" >&2
    exit 1
  fi
fi
# A cluster left behind by a killed run would keep its files open: stop it.
for data in .local/*/pg/data /tmp/hangar-pg-*/data; do
  [[ -f "$data/postmaster.pid" ]] || continue
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$bin/pg_ctl" -D "$data" -m fast stop || true
  else "$bin/pg_ctl" -D "$data" -m fast stop || true; fi
done
rm -rf .local functions/*/build "${CARGO_TARGET_DIR:-target}/worker-build"
echo "[clean] removed .local, functions/*/build, target/worker-build"
