#!/usr/bin/env -S node --max-semi-space-size=4
// A small young generation: a backup makes many short-lived chunk objects, and V8's default
// 16 MiB semi-spaces let them add ~25 MiB of peak RSS for no measurable speed (npm run bench).
// The same flag is in `npm start`, docker/entrypoint.sh and the bench.
import { main } from './main.js';
import { closedPipeSafe } from './output.js';

process.exitCode = await main(process.argv.slice(2), { stdout: closedPipeSafe(process.stdout), stderr: process.stderr });
