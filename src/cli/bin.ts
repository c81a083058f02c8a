#!/usr/bin/env -S node --max-semi-space-size=4 --optimize-for-size
// A small young generation: a backup makes many short-lived chunk objects, and V8's default
// 16 MiB semi-spaces let them add ~15-25 MiB of peak RSS for no measurable speed (npm run bench;
// still so on Node 24). --optimize-for-size makes V8 collect the old generation sooner: a backup's
// buffers live outside the JS heap, and without it V8 let ~60 MiB of dead ones (chunks that waited
// for a part to fill) pile up before its first full GC, most of the gap to the 160 MiB target
// (gzip 174 -> 129, zstd 169 -> 148 MiB peak RSS on a 284 MB database, for ~5% more CPU time and
// no slower wall time within this machine's noise). The same flags are in `npm start`,
// docker/entrypoint.sh and the bench.
import { main } from './main.js';
import { closedPipeSafe } from './output.js';

process.exitCode = await main(process.argv.slice(2), { stdout: closedPipeSafe(process.stdout), stderr: process.stderr });
