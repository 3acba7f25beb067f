#!/usr/bin/env -S node --max-semi-space-size=4
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the `prepare` script).
// --max-semi-space-size=4: the HTTP thread's young generation stays at 4 MB semi-spaces
// (V8's default grows to 16). Its garbage dies with each request; the smaller space
// collects as well and keeps ~25-40 MB less resident: peak RSS with 1M events
// backlogged 260-269 MB instead of 285-312 (docs/benchmarks.md, session 8). Tests and
// benchmarks start the server with the flags of this line (test/helpers/switchyard.ts).
import { main } from '../dist/src/cli/main.js';
main(process.argv.slice(2)).catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
