#!/usr/bin/env bash
# Sets up and runs a first backup on this machine (`npm run local`): a local PostgreSQL with a
# `demo` database, a local S3 store (versitygw), .env and dumptruck.yml, then
# `dumptruck backup demo` and `dumptruck list demo`.
# Running it again reuses the servers, data and secrets already under .local/.
# `scripts/local-down.sh` (the same as `local-up.sh --down`) stops both servers; data stays.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
LOCAL=$REPO/.local
# Other ports when another checkout's stack holds these on a shared machine (set them for local-down.sh too).
PG_PORT=${DUMPTRUCK_LOCAL_PG_PORT:-55432}
S3_HOST=127.0.0.1
S3_PORT=${DUMPTRUCK_LOCAL_S3_PORT:-57070}
S3_ENDPOINT_URL=http://$S3_HOST:$S3_PORT
BUCKET=dumptruck
export PGCLIENTENCODING=UTF8

is_root() { [ "$(id -u)" -eq 0 ]; }

# initdb refuses root, so as root the cluster belongs to Debian's postgres user. Its cwd must
# be a directory that user can enter.
as_pg() {
  if is_root; then (cd "$PG_ROOT" && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_bin_dir() {
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    # Resolve links (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin) to reach psql of the same version.
    dirname "$(readlink -f "$(command -v initdb)")"
  else
    printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1
  fi
}

# .local/pg is the cluster, or a symlink to it when the postgres user cannot reach the repo (as
# root in /root, say) or the socket path would be too long for a unix socket.
resolve_pg_root() {
  if [ -e "$LOCAL/pg" ]; then
    PG_ROOT=$(readlink -f "$LOCAL/pg")
    return
  fi
  mkdir -p "$LOCAL"
  if { ! is_root || runuser -u postgres -- test -x "$LOCAL"; } && [ ${#LOCAL} -lt 80 ]; then
    PG_ROOT=$LOCAL/pg
    mkdir -p "$PG_ROOT"
  else
    PG_ROOT=/var/tmp/dumptruck-local-$(printf '%s' "$REPO" | sha256sum | cut -c1-12)
    mkdir -p "$PG_ROOT"
    ln -s "$PG_ROOT" "$LOCAL/pg"
  fi
  chmod 700 "$PG_ROOT"
  if is_root; then
    id postgres >/dev/null 2>&1 || { echo "no postgres user: apt-get install -y postgresql" >&2; exit 1; }
    chown postgres: "$PG_ROOT"
  fi
}

vgw_pid() {
  local pid
  pid=$(cat "$LOCAL/s3.pid" 2>/dev/null) || return 1
  # A stale pid file may name an unrelated process by now.
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q versitygw && echo "$pid"
}

down() {
  BIN=$(pg_bin_dir)
  if [ -e "$LOCAL/pg" ]; then
    resolve_pg_root
    if as_pg "$BIN/pg_ctl" -D "$PG_ROOT/data" status >/dev/null 2>&1; then
      as_pg "$BIN/pg_ctl" -D "$PG_ROOT/data" -m fast -w stop
    else
      echo "postgres: not running"
    fi
  fi
  rm -f "$LOCAL/pg.pid"
  if pid=$(vgw_pid); then
    kill "$pid"
    echo "versitygw: stopped ($pid)"
  else
    echo "versitygw: not running"
  fi
  rm -f "$LOCAL/s3.pid"
}

if [ "${1:-}" = "--down" ]; then
  down
  exit 0
fi

# shellcheck source=install-deps.sh
source scripts/install-deps.sh

echo "== node modules"
# npm writes node_modules/.package-lock.json on install: older than the lock file means stale.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  echo "up to date"
fi

random_hex() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
env_value() { [ -f .env ] && sed -n "s/^$1=//p" .env | tail -n 1; }

echo "== secrets (.local/secrets.env)"
mkdir -p "$LOCAL"
if [ ! -f "$LOCAL/secrets.env" ]; then
  # An existing .env wins, so that a hand-written one keeps matching the servers.
  db_password=$(env_value DEMO_DB_PASSWORD || true)
  access_key=$(env_value AWS_ACCESS_KEY_ID || true)
  secret_key=$(env_value AWS_SECRET_ACCESS_KEY || true)
  (
    umask 077
    printf 'DEMO_DB_PASSWORD=%s\nS3_ACCESS_KEY=%s\nS3_SECRET_KEY=%s\n' \
      "${db_password:-$(random_hex)}" "${access_key:-local$(random_hex | cut -c1-12)}" "${secret_key:-$(random_hex)$(random_hex)}" \
      >"$LOCAL/secrets.env"
  )
  echo "created"
else
  echo "reused"
fi
# shellcheck source=/dev/null
source "$LOCAL/secrets.env"

echo "== PostgreSQL on 127.0.0.1:$PG_PORT"
BIN=$(pg_bin_dir)
resolve_pg_root
PGDATA_DIR=$PG_ROOT/data
if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
  # Trust only on the unix socket in a 0700 directory; TCP needs the backup role's password.
  as_pg "$BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth-host=scram-sha-256 --auth-local=trust \
    --encoding=UTF8 --locale=C >"$PG_ROOT/initdb.log"
  printf "\n# dumptruck local demo\nlisten_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\n" \
    "$PG_PORT" "$PG_ROOT" >>"$PGDATA_DIR/postgresql.conf"
  echo "initialized $PGDATA_DIR"
fi
if as_pg "$BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
  echo "already running"
else
  as_pg "$BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PG_ROOT/server.log" -w -t 60 start >/dev/null ||
    { tail -n 20 "$PG_ROOT/server.log" >&2; exit 1; }
  echo "started"
fi
head -n 1 "$PGDATA_DIR/postmaster.pid" >"$LOCAL/pg.pid"

psql_admin() { PGOPTIONS="-c client_min_messages=warning" as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_ROOT" -p "$PG_PORT" -U postgres "$@"; }

# The password travels on stdin (printf is a builtin), never in argv.
{
  echo "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'backup') THEN CREATE ROLE backup LOGIN; END IF; END \$\$;"
  printf "ALTER ROLE backup LOGIN PASSWORD '%s';\n" "${DEMO_DB_PASSWORD//\'/\'\'}"
  echo "GRANT pg_read_all_data TO backup;"
} | psql_admin -d postgres
echo "role backup: ready"

if [ "$(psql_admin -d postgres -tA -c "SELECT count(*) FROM pg_database WHERE datname = 'demo'")" = "0" ]; then
  psql_admin -d postgres -c "CREATE DATABASE demo"
  psql_admin -d demo <<'SQL'
CREATE TABLE customers (
  id serial PRIMARY KEY,
  name text NOT NULL,
  city text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Non-ASCII on purpose: a dump must carry UTF-8 through gzip and back unchanged.
INSERT INTO customers (name, city) VALUES
  ('Zoë Ångström', 'Malmö'),
  ('김민준', '서울'),
  ('Łukasz Żółć', 'Kraków'),
  ('山田 太郎', '東京'),
  ('José Núñez', 'São Paulo'),
  ('Ελένη Παπαδοπούλου', 'Αθήνα'),
  ('Ada O''Brien', 'Dublin');

CREATE TABLE products (
  id serial PRIMARY KEY,
  sku text NOT NULL UNIQUE,
  title text NOT NULL,
  price_cents integer NOT NULL CHECK (price_cents >= 0)
);
INSERT INTO products (sku, title, price_cents)
SELECT format('SKU-%s', lpad(g::text, 4, '0')),
       (ARRAY['Kaffeebohnen ☕', '녹차 티백', 'Crème brûlée kit', 'Smørbrød tray', 'Widget'])[1 + g % 5] || ' #' || g,
       100 + (g * 37) % 9900
FROM generate_series(1, 200) AS g;

CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES customers,
  product_id integer NOT NULL REFERENCES products,
  quantity integer NOT NULL,
  note text,
  ordered_at timestamptz NOT NULL
);
INSERT INTO orders (customer_id, product_id, quantity, note, ordered_at)
SELECT 1 + g % 7, 1 + (g * 13) % 200, 1 + g % 5,
       CASE WHEN g % 10 = 0 THEN 'gift wrap 🎁, merci' END,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '17 minutes'
FROM generate_series(1, 20000) AS g;
CREATE INDEX orders_customer_idx ON orders (customer_id);
ANALYZE;
SQL
  echo "database demo: created with sample data"
else
  echo "database demo: exists"
fi

echo "== versitygw on $S3_HOST:$S3_PORT"
port_open() { (exec 3<>"/dev/tcp/$S3_HOST/$S3_PORT") 2>/dev/null; }
start_vgw() {
  local meta_args=()
  # Object metadata (dumptruck's SHA-256) lives in xattrs; a sidecar dir where there are none.
  [ -d "$LOCAL/s3-meta" ] && meta_args=(--sidecar "$LOCAL/s3-meta")
  mkdir -p "$LOCAL/s3"
  # setsid: a later Ctrl-C in this terminal must not take the daemon down with it.
  ROOT_ACCESS_KEY=$S3_ACCESS_KEY ROOT_SECRET_KEY=$S3_SECRET_KEY setsid nohup "$VERSITYGW_BIN" \
    --port "$S3_HOST:$S3_PORT" posix "${meta_args[@]}" "$LOCAL/s3" >"$LOCAL/s3.log" 2>&1 </dev/null &
  echo $! >"$LOCAL/s3.pid"
  for _ in $(seq 200); do
    port_open && return 0
    vgw_pid >/dev/null || return 1
    sleep 0.1
  done
  return 1
}
if pid=$(vgw_pid); then
  echo "already running ($pid)"
elif port_open; then
  echo "$S3_HOST:$S3_PORT is taken by another process; stop it or run scripts/local-down.sh" >&2
  exit 1
else
  if ! start_vgw; then
    if grep -qi xattr "$LOCAL/s3.log" && [ ! -d "$LOCAL/s3-meta" ]; then
      mkdir -p "$LOCAL/s3-meta"
      start_vgw || { cat "$LOCAL/s3.log" >&2; exit 1; }
    else
      cat "$LOCAL/s3.log" >&2
      exit 1
    fi
  fi
  echo "started ($(cat "$LOCAL/s3.pid"))"
fi

# Through the SDK, signed like dumptruck signs; an existing bucket is fine.
S3_ACCESS_KEY=$S3_ACCESS_KEY S3_SECRET_KEY=$S3_SECRET_KEY node --input-type=module -e "
import { S3Client, CreateBucketCommand } from '@aws-sdk/client-s3';
const s3 = new S3Client({
  endpoint: '$S3_ENDPOINT_URL', region: 'us-east-1', forcePathStyle: true,
  credentials: { accessKeyId: process.env.S3_ACCESS_KEY, secretAccessKey: process.env.S3_SECRET_KEY },
  requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
});
try { await s3.send(new CreateBucketCommand({ Bucket: '$BUCKET' })); console.log('bucket $BUCKET: created'); }
catch (e) { if (e.name !== 'BucketAlreadyOwnedByYou') throw e; console.log('bucket $BUCKET: exists'); }
"

echo "== config"
if [ -f .env ]; then
  echo ".env: exists, left as it is"
  # Backups are signed with this key (storage.hmacKey); an older .env may not have one yet.
  if [ -z "$(env_value DUMPTRUCK_HMAC_KEY || true)" ]; then
    (umask 077 && printf 'DUMPTRUCK_HMAC_KEY=%s\n' "$(random_hex)$(random_hex)" >>.env)
    echo ".env: DUMPTRUCK_HMAC_KEY added (signs backups; keep it, or older backups are no longer trusted)"
  fi
else
  (
    umask 077
    cat >.env <<ENV
# Written by scripts/local-up.sh for the local demo servers.
S3_ENDPOINT=$S3_ENDPOINT_URL
S3_BUCKET=$BUCKET
S3_FORCE_PATH_STYLE=true
AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
AWS_REGION=us-east-1
DEMO_DB_PASSWORD=$DEMO_DB_PASSWORD
DUMPTRUCK_CONFIG=./dumptruck.yml
# Signs every backup (storage.hmacKey); a CLI on another host needs the same value.
DUMPTRUCK_HMAC_KEY=$(random_hex)$(random_hex)
ENV
  )
  echo ".env: written"
fi
if [ -f dumptruck.yml ]; then
  echo "dumptruck.yml: exists, left as it is"
else
  cat >dumptruck.yml <<YML
# Written by scripts/local-up.sh for the local demo; every option: dumptruck.example.yml.
# S3_ENDPOINT, S3_BUCKET and S3_FORCE_PATH_STYLE in .env override storage: below.
storage:
  bucket: $BUCKET
  endpoint: $S3_ENDPOINT_URL
  region: us-east-1
  forcePathStyle: true
targets:
  demo:
    url: postgres://backup@127.0.0.1:$PG_PORT/demo
    password: { env: DEMO_DB_PASSWORD }
YML
  echo "dumptruck.yml: written"
fi

# npm run bench reuses this script for its servers only (and builds on its own).
if [ -n "${DUMPTRUCK_LOCAL_SKIP_DEMO:-}" ]; then exit 0; fi

echo "== npm run build"
npm run build --silent

# package.json's bin is the CLI's entry point (what `npx dumptruck` runs).
CLI=$(node -p "require('./package.json').bin.dumptruck")
if [ ! -f "$CLI" ]; then
  echo "$CLI is missing after the build: the CLI is not there yet" >&2
  exit 1
fi
# The environment wins over .env; drop variables a shell may carry for another store, so that
# this run talks to the local servers the way .env says.
run_cli() {
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE -u AWS_REGION \
    -u S3_ENDPOINT -u S3_BUCKET -u S3_REGION -u S3_PREFIX -u S3_FORCE_PATH_STYLE -u DUMPTRUCK_CONFIG -u DEMO_DB_PASSWORD -u DUMPTRUCK_HMAC_KEY \
    node "$CLI" "$@"
}
echo "== dumptruck backup demo"
run_cli backup demo
echo "== dumptruck list demo"
run_cli list demo
echo
echo "Local servers keep running: PostgreSQL 127.0.0.1:$PG_PORT, S3 $S3_ENDPOINT_URL (bucket $BUCKET)."
echo "Stop them with scripts/local-down.sh; rerun npm run local any time."
