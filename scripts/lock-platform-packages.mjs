#!/usr/bin/env node
// The npm registry reachable here only carries DuckDB's linux-x64 bindings, so
// `npm install` leaves the other platforms' optional packages out of
// package-lock.json, and `npm ci` then refuses the lock as out of sync. This adds
// lock entries for them (platform-tagged, optional: npm never fetches them on
// linux-x64). Run it after any `npm install` that rewrites the lock.
import fs from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(fs.readFileSync(path, 'utf8'));
const parent = lock.packages['node_modules/@duckdb/node-bindings'];
if (!parent) process.exit(0);
const platforms = {
  'darwin-arm64': ['darwin', 'arm64'],
  'darwin-x64': ['darwin', 'x64'],
  'linux-arm64': ['linux', 'arm64', 'glibc'],
  'linux-arm64-musl': ['linux', 'arm64', 'musl'],
  'linux-x64': ['linux', 'x64', 'glibc'],
  'linux-x64-musl': ['linux', 'x64', 'musl'],
  'win32-arm64': ['win32', 'arm64'],
  'win32-x64': ['win32', 'x64'],
};
const packages = {};
let added = 0;
for (const [key, value] of Object.entries(lock.packages)) {
  packages[key] = value;
  if (key !== 'node_modules/@duckdb/node-bindings') continue;
  for (const name of Object.keys(parent.optionalDependencies ?? {})) {
    const entry = `node_modules/${name}`;
    if (lock.packages[entry]) continue;
    const [os, cpu, libc] = platforms[name.replace('@duckdb/node-bindings-', '')] ?? [];
    if (!os) continue;
    packages[entry] = { version: parent.optionalDependencies[name], cpu: [cpu], ...(libc ? { libc: [libc] } : {}), license: 'MIT', optional: true, os: [os] };
    added++;
  }
}
lock.packages = packages;
fs.writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(added ? `added ${added} platform entries to package-lock.json` : 'package-lock.json already lists every platform');
