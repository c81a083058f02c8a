#!/usr/bin/env bash
# Installs what npm cannot: the PostgreSQL server binaries, the zstd and age tools (Debian's
# packages), versitygw (a Go module) and moto, each only when it is missing, so a second run costs
# nothing. Node itself comes from npm: package.json pins the `node` package, which npm ci puts in
# node_modules/.bin, first on PATH for every npm script.
# Sourced by .ci/run and scripts/local-up.sh so that the PATH it extends and VERSITYGW_BIN stay
# set for them; it can also be run on its own.
set -euo pipefail

VERSITYGW_MODULE=github.com/versity/versitygw/cmd/versitygw@v1.8.0

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

echo "== PostgreSQL server"
if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  echo "present: $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
else
  # Debian keeps initdb/pg_ctl off PATH, under /usr/lib/postgresql/<major>/bin.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql </dev/null
fi

echo "== zstd"
# The tests compare dumptruck's zstd output with the reference tool's decompression, and the
# README's restore commands use it.
if command -v zstd >/dev/null; then
  echo "present: $(command -v zstd)"
else
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zstd </dev/null
fi

echo "== age (encrypted backups: encrypt: in the config)"
if command -v age >/dev/null && command -v age-keygen >/dev/null; then
  echo "present: $(command -v age) $(age --version)"
else
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq age </dev/null
fi

echo "== versitygw"
# The Go toolchain is not on every PATH (e.g. CI's environment); go install puts binaries in GOPATH/bin.
if [ -x /usr/local/go/bin/go ] && ! command -v go >/dev/null; then PATH="$PATH:/usr/local/go/bin"; fi
if command -v go >/dev/null; then PATH="$PATH:$(go env GOPATH)/bin"; fi
PATH="$PATH:$HOME/go/bin"
export PATH
if [ -n "${VERSITYGW_BIN:-}" ] && [ -x "$VERSITYGW_BIN" ]; then
  :
elif command -v versitygw >/dev/null; then
  VERSITYGW_BIN=$(command -v versitygw)
else
  if ! command -v go >/dev/null; then
    echo "versitygw is missing and so is Go to build it: install Go, then rerun" >&2
    exit 1
  fi
  echo "go install $VERSITYGW_MODULE (about 2 minutes)"
  go install "$VERSITYGW_MODULE"
  VERSITYGW_BIN=$(command -v versitygw)
fi
export VERSITYGW_BIN
echo "present: $VERSITYGW_BIN"

echo "== moto (a local AWS API for the Secrets Manager tests)"
# In its own virtualenv: Debian's Python refuses global pip installs, and a pyenv Python would
# need a rehash before a new command shows up on PATH.
MOTO_SPEC='moto[server]==5.2.1'
MOTO_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/dumptruck/moto"
if [ -n "${MOTO_SERVER_BIN:-}" ] && [ -x "$MOTO_SERVER_BIN" ]; then
  :
elif [ -x "$MOTO_VENV/bin/moto_server" ]; then
  MOTO_SERVER_BIN="$MOTO_VENV/bin/moto_server"
elif command -v moto_server >/dev/null && moto_server --help >/dev/null 2>&1; then
  MOTO_SERVER_BIN=$(command -v moto_server)
else
  if ! command -v python3 >/dev/null; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv </dev/null
  fi
  if ! python3 -m venv "$MOTO_VENV" 2>/dev/null; then
    # Debian's python3 ships venv without ensurepip.
    rm -rf "$MOTO_VENV"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv </dev/null
    python3 -m venv "$MOTO_VENV"
  fi
  echo "pip install $MOTO_SPEC (about a minute)"
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "$MOTO_SPEC"
  MOTO_SERVER_BIN="$MOTO_VENV/bin/moto_server"
fi
export MOTO_SERVER_BIN
echo "present: $MOTO_SERVER_BIN"
