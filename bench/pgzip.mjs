// Micro-benchmark: gzip -6 / pigz -6 binaries vs Node's zlib.createGzip vs createParallelGzip,
// on ~200 MB of pg_dump-like COPY text held in memory.
//   npx tsc -p tsconfig.build.json && node bench/pgzip.mjs [megabytes] [rounds]
// UV_THREADPOOL_SIZE (default 4) caps how many blocks really compress at once; try setting it.

import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { createParallelGzip } from '../dist/pipeline/pgzip.js';

const megabytes = Number(process.argv[2] ?? 200);
const CHUNK = 64 * 1024; // what a pipe from pg_dump delivers at a time

/** COPY lines: id, md5-like hex, timestamp, amount, a status word, a short repetitive comment. */
function generate(bytes) {
  let seed = 42;
  const rand = () => {
    // xorshift32: md5-looking hex at a fraction of crypto's cost
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const words = ['active', 'pending', 'shipped', 'cancelled', 'refunded', 'archived'];
  const comments = ['', 'gift wrap', 'leave at door', 'call before delivery', 'fragile', '\\N'];
  const out = Buffer.allocUnsafe(bytes + 512);
  let at = out.write('COPY public.orders (id, token, created_at, amount, status, note) FROM stdin;\n');
  for (let id = 1; at < bytes; id++) {
    const hex = (rand().toString(16) + rand().toString(16) + rand().toString(16) + rand().toString(16)).padEnd(32, '0');
    const t = new Date(1_600_000_000_000 + id * 37_000 + (rand() % 1000)).toISOString().replace('T', ' ').slice(0, 23);
    const amount = ((rand() % 1_000_000) / 100).toFixed(2);
    at += out.write(`${id}\t${hex}\t${t}+00\t${amount}\t${words[rand() % words.length]}\t${comments[rand() % comments.length]}\n`, at);
  }
  return out.subarray(0, at);
}

function chunks(data) {
  const list = [];
  for (let i = 0; i < data.length; i += CHUNK) list.push(data.subarray(i, i + CHUNK));
  return list;
}

async function runNode(makeStream, data) {
  let size = 0;
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      size += chunk.length;
      callback();
    },
  });
  const cpu = process.cpuUsage();
  const start = performance.now();
  await pipeline(Readable.from(chunks(data)), makeStream(), sink);
  const wall = performance.now() - start;
  const { user, system } = process.cpuUsage(cpu);
  return { wall, cpu: (user + system) / 1000, size };
}

/** Spawns the binary under sh so that `times` can report the child's CPU time on stderr. */
async function runBinary(command, data) {
  const child = spawn('sh', ['-c', `${command}; times >&2`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let size = 0;
  let stderr = '';
  child.stdout.on('data', (chunk) => (size += chunk.length));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.on('close', resolve));
  const start = performance.now();
  await pipeline(Readable.from(chunks(data)), child.stdin);
  await exited;
  const wall = performance.now() - start;
  // `times` prints the shell's own and then its children's "user system" times, e.g. "0m1.234s 0m0.050s".
  const children = stderr.trim().split('\n').at(-1) ?? '';
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { wall, cpu: (seconds[0] + seconds[1]) * 1000, size };
}

const data = generate(megabytes * 1024 * 1024);
const gzipRatio = zlib.gzipSync(data.subarray(0, 8 << 20), { level: 6 }).length / (8 << 20);
console.log(
  `${(data.length / 2 ** 20).toFixed(0)} MiB input, ratio ~${(1 / gzipRatio).toFixed(2)}x; ` +
    `UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}; ${os.availableParallelism()} cores, ` +
    `load average ${os.loadavg()[0].toFixed(2)}`,
);

const cases = [['gzip -6 (binary)', () => runBinary('gzip -6', data)]];
if (spawnSync('sh', ['-c', 'command -v pigz']).status === 0) {
  cases.push(['pigz -6 (binary)', () => runBinary('pigz -6', data)]);
}
cases.push(['zlib.createGzip level 6', () => runNode(() => zlib.createGzip({ level: 6 }), data)]);
cases.push(['parallel, defaults', () => runNode(() => createParallelGzip(), data)]);
for (const [concurrency, kib] of [
  [1, 128],
  [2, 128],
  [2, 256],
  [4, 64],
  [4, 128],
  [4, 256],
  [4, 512],
  [8, 256],
]) {
  cases.push([
    `parallel c=${concurrency} block=${kib}K`,
    () => runNode(() => createParallelGzip({ level: 6, concurrency, blockSize: kib * 1024 }), data),
  ]);
}

// The machine may be shared, so every case runs several times, interleaved, and the fastest run counts.
const rounds = Number(process.argv[3] ?? 3);
const results = new Map(cases.map(([name]) => [name, []]));
for (let round = 0; round < rounds; round++) {
  for (const [name, run] of cases) results.get(name).push(await run());
}

const baseline = results.get(cases[0][0])[0].size;
console.log(`best of ${rounds}                      wall ms   cpu ms    MB/s   size bytes   vs gzip`);
for (const [name, runs] of results) {
  const best = runs.reduce((a, b) => (b.wall < a.wall ? b : a));
  const rate = data.length / 2 ** 20 / (best.wall / 1000);
  console.log(
    `${name.padEnd(28)} ${best.wall.toFixed(0).padStart(8)} ${best.cpu.toFixed(0).padStart(8)} ${rate.toFixed(1).padStart(7)}` +
      ` ${String(best.size).padStart(12)} ${(((best.size - baseline) / baseline) * 100).toFixed(2).padStart(8)}%`,
  );
}
console.log(`load average at the end ${os.loadavg()[0].toFixed(2)} (other processes skew wall times)`);
