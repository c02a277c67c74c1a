#!/usr/bin/env bash
# Stop or start the running stack's PostgreSQL, e.g. from an e2e test that
# checks that `health` answers 503 while the database is down:
#
#   bash tests/stack/pg.sh stop|start|status
#
# Reads the stack's env file: $HANGAR_STACK_ENV, else .local/stack.env.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
env_file="${HANGAR_STACK_ENV:-$root/.local/stack.env}"
[[ -f "$env_file" ]] || { echo "pg.sh: no stack env at $env_file (is the stack running?)" >&2; exit 1; }
# shellcheck disable=SC1090
set -a; . "$env_file"; set +a

as_postgres() { if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-}" in
  stop) as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null ;;
  # The port and socket are in $PGDATA/hangar.conf, written by the stack.
  start) as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PG_LOG" -w -t 60 start >/dev/null ;;
  status) as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" status ;;
  *) echo "usage: $0 stop|start|status" >&2; exit 2 ;;
esac
