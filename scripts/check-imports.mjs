#!/usr/bin/env node
// Checks that imports between layers point down only (docs/architecture.md).
// A layer may import its own files and any layer with a lower rank; lanes of
// equal rank (log, store, destinations, observability) never import each other.
import fs from 'node:fs';
import path from 'node:path';

const RANK = {
  protocol: 0,
  core: 1,
  // The Functions sandbox and its contract: below the destinations and the router that run functions.
  functions: 1.5,
  log: 2,
  store: 2,
  storage: 2,
  // Unify's identity graph and Profile API reads (imports protocol/core only).
  unify: 2,
  destinations: 2,
  observability: 2,
  // Reverse ETL (warehouse → destinations): config, diffing, snapshots, delivery; uses
  // destinations, store types and core; the workspace file (config) imports its schema.
  retl: 2.5,
  config: 3,
  router: 3,
  server: 4,
  cli: 5,
};
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'src');
const problems = [];

function walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(p);
    else if (entry.name.endsWith('.ts')) check(p);
  }
}

function layerOf(file) {
  return path.relative(root, file).split(path.sep)[0];
}

function check(file) {
  const from = layerOf(file);
  if (!(from in RANK)) return problems.push(`${path.relative(root, file)}: layer "${from}" is not in scripts/check-imports.mjs`);
  const text = fs.readFileSync(file, 'utf8');
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
    const target = path.resolve(path.dirname(file), m[1]);
    const to = layerOf(target);
    if (to === from) continue;
    if (!(to in RANK) || RANK[to] >= RANK[from]) {
      problems.push(`${path.relative(root, file)} imports ${m[1]}: ${from} (rank ${RANK[from]}) may not depend on ${to} (rank ${RANK[to]})`);
    }
  }
}

walk(root);
if (problems.length) {
  console.error(`Layer violations:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('imports point down only');
