#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, trust auth for local TCP) and Redis (127.0.0.1:6379)
# are running for the test suite, and that Node.js, Chromium and a Starknet devnet are
# installed: starts services when installed but stopped, installs what is missing (apt-get as
# root; the devnet from crates.io). Safe to run repeatedly.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    log "$1 is missing and installing it needs root; install it or run this script as root"
    exit 1
  fi
}

apt_install() {
  need_root "$*"
  if [ -z "${APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() {
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "$what did not become ready"
  exit 1
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }

postgres() {
  if command -v pg_isready >/dev/null 2>&1 && pg_up; then
    return
  fi
  local fresh=""
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing PostgreSQL"
    apt_install postgresql
    fresh=1
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ -n "$fresh" ]; then
    # Trust local TCP connections, as the test suite expects (never do this on a shared host).
    local hba=/etc/postgresql/$version/main/pg_hba.conf
    sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/; s/^(host\s+all\s+all\s+::1\/128\s+)\S+/\1trust/' "$hba"
  fi
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for PostgreSQL pg_up
  if [ -n "$fresh" ]; then
    psql -h 127.0.0.1 -U postgres -qc "CREATE ROLE root SUPERUSER LOGIN" 2>/dev/null || true
    for db in test root; do
      psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" 2>/dev/null || true
    done
  fi
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG; }

redis() {
  # The multi-instance tests start private redis-server processes (to stop and restart them),
  # so the binary is needed even when a Redis already answers on 6379.
  if ! command -v redis-server >/dev/null 2>&1; then
    log "installing Redis"
    apt_install redis-server
  fi
  if redis_up; then
    return
  fi
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis_up
}

# A Starknet devnet for the wallet sign-in tests: built from crates.io once per machine
# (about 20 minutes on 2 cores) into a fixed root, then reused.
devnet() {
  local root=${STARKNET_DEVNET_ROOT:-/opt/starknet-devnet}
  if [ -x "$root/bin/starknet-devnet" ]; then
    return
  fi
  log "installing starknet-devnet 0.10.1 into $root (once per machine, about 20 minutes)"
  mkdir -p "$root"
  cargo install starknet-devnet --version 0.10.1 --locked --root "$root" --quiet
}

# Node.js and npm for the TypeScript client's tests (packages come from the npm registry).
node_js() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    return
  fi
  log "installing Node.js and npm"
  apt_install nodejs npm
}

# Chromium for the browser tests of the demo page (driven by playwright-core, which
# downloads no browser of its own).
chromium_browser() {
  if command -v chromium >/dev/null 2>&1; then
    return
  fi
  log "installing chromium"
  apt_install chromium
}

postgres
redis
node_js
chromium_browser
devnet
log "PostgreSQL, Redis, Node.js, Chromium and starknet-devnet are ready"
