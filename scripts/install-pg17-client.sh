#!/usr/bin/env bash
# Test only: a PostgreSQL 17 client (pg_dump, pg_restore, psql 17.12) in .local/pg17/bin, for the
# tests that restore a newer pg_dump's backup into the older (15) server it came from, as users do
# with the image's pg_dump 18 against their PG 13-16 servers. Production uses the image's PGDG
# client; nothing here is used outside the tests.
# Debian 12 packages only PostgreSQL 15, and Debian 13 (trixie)'s client needs glibc 2.38+, so
# trixie's debs are extracted (dpkg-deb -x, nothing installed system-wide) with trixie's own glibc,
# and the wrappers run each program through that glibc's loader. Every deb is pinned by SHA-256; a
# failed download or a checksum mismatch fails (CI runs this: it must fail loudly, not skip tests).
# Idempotent: a second run with the client in place does nothing.
set -euo pipefail

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST="$ROOT_DIR/.local/pg17"
MIRROR=http://deb.debian.org/debian/pool/main
VERSION=17.12

# sha256, pool path (Filename in trixie's main/binary-amd64/Packages.xz).
DEBS=(
  "b59b0625cd1a791375d40dab23a4d5d3d0641e3d0a773501becdc3725b7f99cf g/glibc/libc6_2.41-12+deb13u5_amd64.deb"
  "30847c1fde4240567d7ed3aeab4f655dd591203758b857e85e824045aae70299 k/krb5/libgssapi-krb5-2_1.21.3-5+deb13u1_amd64.deb"
  "7da07ee674b47f1f0be7cc89317c25310086a1f1761217d0f72e6ae2c5a69b84 k/krb5/libk5crypto3_1.21.3-5+deb13u1_amd64.deb"
  "47d71d6a7f2e59b9bae5f89602397594805113b95889ad18fa703cd53abafc97 k/krb5/libkrb5-3_1.21.3-5+deb13u1_amd64.deb"
  "3a0acd8b37955c0e102c756b52c97df2a31f67b96453c35dab70df218d309117 k/krb5/libkrb5support0_1.21.3-5+deb13u1_amd64.deb"
  "60069e4a550ca890113fa89d3001417781b18e146ec5d637d31e368dec9909bd o/openldap/libldap2_2.6.10+dfsg-1_amd64.deb"
  "c31ec4c7c82755a38b2f3fe066fc0c5518cc91a601a268fbcd19bdacb1f22e1e l/lz4/liblz4-1_1.10.0-4_amd64.deb"
  "b93ae6e06672919c28eb018e7e13af34f1a94fc357f21e28488d339faf53ec98 p/postgresql-17/libpq5_17.12-0+deb13u1_amd64.deb"
  "eeadf2b5e755c9f183883feea2d9b5b28560284275d5f54d3e55d0923b1d0967 r/readline/libreadline8t64_8.2-6_amd64.deb"
  "ffefb9af363e0e4592251b2533eb06453c8e470f7772e40263c4b2129251a6d5 o/openssl/libssl3t64_3.5.9-1~deb13u1_amd64.deb"
  "2f6a2aeacfc925eba8b00ac9139bc4bfccf8cacb09eb93de067074b26948eef9 libz/libzstd/libzstd1_1.5.7+dfsg-1_amd64.deb"
  "53466b127f3f6e95c7a30352db7fcdd7b83d2143a03efbdcd005032b5047aa83 p/postgresql-17/postgresql-client-17_17.12-0+deb13u1_amd64.deb"
)

echo "== PostgreSQL $VERSION client (tests only)"
if [ -x "$DEST/bin/pg_dump" ] && "$DEST/bin/pg_dump" --version 2>/dev/null | grep -q "(PostgreSQL) $VERSION"; then
  echo "present: $DEST/bin ($("$DEST/bin/pg_dump" --version))"
  exit 0
fi

if ! command -v curl >/dev/null; then
  # A fresh Debian 12 may lack it; apt's own registry, as scripts/install-deps.sh uses.
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl ca-certificates </dev/null
fi

mkdir -p "$DEST/debs"
# Extracted afresh: a half-extracted tree from an interrupted run is never reused.
rm -rf "$DEST/root" "$DEST/bin"
for entry in "${DEBS[@]}"; do
  sha=${entry%% *}
  path=${entry#* }
  file="$DEST/debs/${path##*/}"
  if ! echo "$sha  $file" | sha256sum --check --status 2>/dev/null; then
    echo "download $MIRROR/$path"
    curl --fail --silent --show-error --location --retry 3 --output "$file.part" "$MIRROR/$path"
    mv "$file.part" "$file"
  fi
  if ! echo "$sha  $file" | sha256sum --check --status; then
    echo "checksum mismatch for $file: expected $sha, got $(sha256sum "$file" | cut -d' ' -f1)" >&2
    rm -f "$file"
    exit 1
  fi
  dpkg-deb -x "$file" "$DEST/root"
done

mkdir -p "$DEST/bin"
for tool in pg_dump pg_restore psql; do
  cat >"$DEST/bin/$tool" <<EOF
#!/bin/sh
# PostgreSQL $VERSION client from Debian 13's packages, run with its own glibc (see scripts/install-pg17-client.sh).
R=$DEST/root; L=\$R/usr/lib/x86_64-linux-gnu
exec \$L/ld-linux-x86-64.so.2 --library-path \$L:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu \$R/usr/lib/postgresql/17/bin/$tool "\$@"
EOF
  chmod +x "$DEST/bin/$tool"
done
"$DEST/bin/pg_dump" --version
"$DEST/bin/pg_restore" --version
"$DEST/bin/psql" --version
