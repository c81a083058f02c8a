#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=4 --optimize-for-size
// Peak memory (a backup's RSS stays under 160 MiB; npm run bench), three settings:
// - A small young generation: a backup makes many short-lived chunk objects, and V8's default
//   16 MiB semi-spaces add ~15-25 MiB of peak RSS for no measurable speed (still so on Node 24).
// - --optimize-for-size: V8 collects the old generation sooner. A backup's buffers live outside
//   the JS heap, and without it ~60 MiB of dead ones piled up before the first full GC
//   (gzip 174 -> 126-129 MiB, zstd 169 -> 140-148 MiB on a 284 MB database; it costs ~5-10% more
//   CPU time in alternating runs, mostly more full GCs, while the compression work is unchanged).
// - glibc's mmap threshold fixed at 128 KiB: its default threshold grows to the size of the first
//   large buffer freed, after which stream buffers and zstd's contexts come from the heap arenas,
//   which fragment and never shrink (zstd 155-164 -> 132-135 MiB, gzip 141 -> 126 MiB).
// The same settings are in `npm start`, docker/entrypoint.sh and the bench.
import { main } from './main.js';
import { closedPipeSafe } from './output.js';

process.exitCode = await main(process.argv.slice(2), { stdout: closedPipeSafe(process.stdout), stderr: process.stderr });
