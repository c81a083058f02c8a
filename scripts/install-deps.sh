#!/usr/bin/env bash
# Installs what npm cannot: the PostgreSQL server binaries (Debian's package) and versitygw
# (a Go module), each only when it is missing, so a second run costs nothing.
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
