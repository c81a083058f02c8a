#!/bin/sh
# The image's entry point. No arguments (or "bot"): the Slack bot. Otherwise a CLI command:
#   docker run IMAGE                  -> the bot (Socket Mode or HTTP, per SLACK_MODE)
#   docker run IMAGE backup app-db    -> dumptruck backup app-db, with the CLI's exit code
# exec: node takes this shell's place, so SIGTERM reaches it and the shutdown is graceful.
set -eu
# Memory settings: see the head of src/cli/bin.ts (glibc's mmap threshold, V8's flags below).
export MALLOC_MMAP_THRESHOLD_=131072
app_dir=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
if [ "$#" -eq 0 ]; then
  exec node --max-semi-space-size=4 --optimize-for-size --no-incremental-marking --expose-gc "$app_dir/dist/slack/main.js"
fi
if [ "$1" = "bot" ]; then
  shift
  exec node --max-semi-space-size=4 --optimize-for-size --no-incremental-marking --expose-gc "$app_dir/dist/slack/main.js" "$@"
fi
exec node --max-semi-space-size=4 --optimize-for-size --no-incremental-marking --expose-gc "$app_dir/dist/cli/bin.js" "$@"
