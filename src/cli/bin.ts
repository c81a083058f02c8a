#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=4 --optimize-for-size --no-incremental-marking --expose-gc
// Peak memory (a backup's RSS stays under 160 MiB; npm run bench) and CPU, four settings:
// - A small young generation: a backup makes many short-lived chunk objects, and V8's default
//   16 MiB semi-spaces add ~15-25 MiB of peak RSS for no measurable speed (still so on Node 24).
// - --optimize-for-size: V8 collects the old generation sooner. A backup's buffers live outside
//   the JS heap, and without it ~60 MiB of dead ones piled up before the first full GC
//   (gzip 174 -> 126-129 MiB, zstd 169 -> 140-148 MiB on a 284 MB database).
// - --no-incremental-marking --expose-gc: under --optimize-for-size V8 starts marking again as soon
//   as a full GC ends (~90 of them and 1.7-1.9 s of main-thread time per zstd backup of 1 GB, and
//   its helper threads' time on top). Without incremental marking V8 collects when a limit is
//   reached, and the upload collects once per part, the moment a part's buffer is dead
//   (pipeline/upload.ts): 42-52 collections, 1.0-1.7 s, and ~1-1.5 s less user CPU in
//   alternating runs (10.5-11.2 -> 8.8-9.9 s), peak RSS unchanged (~140 MiB). Without that
//   per-part collection, dead parts pile up (178-183 MiB).
// - glibc's mmap threshold fixed at 128 KiB: its default threshold grows to the size of the first
//   large buffer freed, after which stream buffers and zstd's contexts come from the heap arenas,
//   which fragment and never shrink (zstd 155-164 -> 132-135 MiB, gzip 141 -> 126 MiB).
// The same settings are in `npm start`, docker/entrypoint.sh and the bench.
import { main } from './main.js';
import { closedPipeSafe } from './output.js';

process.exitCode = await main(process.argv.slice(2), { stdout: closedPipeSafe(process.stdout), stderr: process.stderr });
