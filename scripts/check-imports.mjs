#!/usr/bin/env node
// `npm run lint`: the import graph of src/ keeps its shape. Layers only import downward (the
// order below is the one README.md's Architecture section explains), two listed pairs never
// import each other, and no module imports itself back through others (no cycles). Type-only
// imports count too: a type that must come from a higher layer means the type is in the wrong place.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** Lowest first. A unit (a folder of src/, or a file at its root) imports only units of lower layers. */
const LAYERS = [
  ['ground'], // types.ts, errors.ts, redact.ts: what every layer shares
  ['config'],
  ['secrets'],
  ['storage'],
  ['pipeline'],
  ['verify'],
  ['retention', 'restore'],
  ['jobs'],
  ['snapshots'],
  ['alerts', 'observability', 'state'],
  ['app'],
  ['slack', 'cli'],
];
/** Lower-layer units a unit still must not import: storage takes its settings as its own interfaces. */
const NEVER = [['storage', 'config']];
const GROUND = new Set(['types.ts', 'errors.ts', 'redact.ts']);
/** The shared types import nothing of the project but the error type beside them. */
const GROUND_IMPORTS = { 'types.ts': ['errors.ts'], 'redact.ts': [], 'errors.ts': ['redact.ts'] };

const rank = new Map(LAYERS.flatMap((units, i) => units.map((u) => [u, i])));

function unitOf(file) {
  const rel = relative(SRC, file);
  if (GROUND.has(rel)) return 'ground';
  return rel.includes('/') ? rel.split('/')[0] : rel.replace(/\.ts$/, '');
}

function* sources(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

const IMPORT = /^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"](\.[^'"]+)['"]|^\s*import\s+['"](\.[^'"]+)['"]/gm;

const graph = new Map();
for (const file of sources(SRC)) {
  const text = readFileSync(file, 'utf8');
  const targets = [];
  for (const m of text.matchAll(IMPORT)) targets.push(resolve(dirname(file), (m[1] ?? m[2]).replace(/\.js$/, '.ts')));
  graph.set(file, targets);
}

const problems = [];
for (const [file, targets] of graph) {
  const from = unitOf(file);
  const name = relative(SRC, file);
  for (const target of targets) {
    const to = unitOf(target);
    const tname = relative(SRC, target);
    if (!graph.has(target)) problems.push(`${name}: imports ${tname}, which is not a module of src/`);
    else if (from === 'ground' && to === 'ground') {
      if (!GROUND_IMPORTS[name]?.includes(tname))
        problems.push(`${name}: the ground floor imports only ${GROUND_IMPORTS[name]?.join(', ') || 'nothing'}, not ${tname}`);
    } else if (from === to) continue;
    else if (!rank.has(from) || !rank.has(to))
      problems.push(`${name}: ${!rank.has(from) ? from : to} has no layer; add it to LAYERS in scripts/check-imports.mjs and to README.md`);
    else if (rank.get(to) >= rank.get(from)) problems.push(`${name}: ${from} imports ${tname} (${to}), which is not a lower layer`);
    else if (NEVER.some(([a, b]) => a === from && b === to)) problems.push(`${name}: ${from} must not import ${to} (${tname})`);
  }
}

// Cycles between files, folders or not: depth-first search, reporting each cycle once by its path.
const state = new Map();
const stack = [];
function visit(file) {
  state.set(file, 'open');
  stack.push(file);
  for (const next of graph.get(file) ?? []) {
    if (!graph.has(next)) continue;
    if (state.get(next) === 'open') {
      const cycle = stack
        .slice(stack.indexOf(next))
        .concat(next)
        .map((f) => relative(SRC, f));
      problems.push(`import cycle: ${cycle.join(' > ')}`);
    } else if (!state.has(next)) visit(next);
  }
  stack.pop();
  state.set(file, 'done');
}
for (const file of graph.keys()) if (!state.has(file)) visit(file);

if (problems.length > 0) {
  process.stderr.write(`src/ imports break the layering (README.md, Architecture):\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write(`imports: ${graph.size} modules, no cycles, every import downward\n`);
