#!/usr/bin/env bash
# The standard benchmark: builds release binaries, installs the Bun + Hono peer from npm (once,
# in the cache), and runs `realtime-bench suite` against torii-realtime on SQLite and on
# Postgres and against the peer, side by side, on loopback.
#
#   scripts/bench.sh            full set (about 8 minutes), written into docs/performance.md
#   scripts/bench.sh --smoke    about 20 seconds of each scenario at small scale, printed only
#
# PEER_SCRIPT names the peer's server script (default: ../shared/peers/bun-hono/server.ts
# beside this repository); without it the peer columns are left out.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=""
[ "${1:-}" = "--smoke" ] && smoke="--smoke"

scripts/services.sh >/dev/null
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/torii-realtime/target}
cargo build --release --locked -p realtime-server -p realtime-bench
bin="$CARGO_TARGET_DIR/release"

args=(--server-bin "$bin/torii-realtime")

peer_script=${PEER_SCRIPT:-../shared/peers/bun-hono/server.ts}
if [ -f "$peer_script" ] && command -v npm >/dev/null; then
  peer_dir=${XDG_CACHE_HOME:-$HOME/.cache}/torii-realtime/bunpeer
  mkdir -p "$peer_dir"
  if [ ! -x "$peer_dir/node_modules/.bin/bun" ] || [ ! -d "$peer_dir/node_modules/hono" ]; then
    echo "bench: installing bun and hono from npm into $peer_dir"
    (cd "$peer_dir" && { [ -f package.json ] || npm init -y >/dev/null; } &&
      npm install --no-audit --no-fund --silent bun@1 hono@4)
  fi
  # Next to its node_modules, so `hono` resolves.
  cp "$peer_script" "$peer_dir/server.ts"
  args+=(--bun "$peer_dir/node_modules/.bin/bun" --peer-script "$peer_dir/server.ts")
else
  echo "bench: no peer script at $peer_script (or no npm); measuring torii-realtime only"
fi

pg=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=rt_bench
psql "$pg" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
psql "$pg" -qc "CREATE DATABASE $db" >/dev/null
args+=(--postgres-url "${pg%/*}/$db")

# One socket per connection on both ends: use every file the limit allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ -n "$smoke" ]; then
  "$bin/realtime-bench" suite --smoke "${args[@]}"
else
  "$bin/realtime-bench" suite "${args[@]}" --out docs/performance.md
fi
psql "$pg" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
