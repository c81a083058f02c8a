#!/usr/bin/env bash
# Stops the local PostgreSQL and versitygw that scripts/local-up.sh started; data stays in .local/.
set -euo pipefail
exec bash "$(dirname "$0")/local-up.sh" --down
