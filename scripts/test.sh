#!/usr/bin/env bash
# The whole test suite: formatting and lints, unit tests, the storage suite on SQLite and on
# Postgres, the end-to-end tests that start the real binary, the TypeScript client's type
# check and tests (against the same binary), and the demo page in Chromium. Starts the
# services it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh

export TEST_POSTGRES_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

# Databases left behind by interrupted runs.
psql "$TEST_POSTGRES_URL" -Atqc \
  "SELECT datname FROM pg_database WHERE datname LIKE 'rt\_test\_%' OR datname LIKE 'rt\_e2e\_%'" |
  while read -r db; do
    psql "$TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
  done

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== build the binary the end-to-end tests start"
cargo build --locked -p realtime-server --bin torii-realtime
cargo build --locked -p e2e --bin fake-torii

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

echo "== TypeScript client, demo page and browser tests"
(
  cd clients/typescript
  [ -d node_modules ] || npm ci --no-audit --no-fund --silent
  npx tsc --noEmit
  # The demo the binary embeds must be the one its sources build.
  node scripts/build-demo.mjs --check
  CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/../../target} npx vitest run
)
