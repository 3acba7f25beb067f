#!/usr/bin/env -S node --max-semi-space-size=4 --no-node-snapshot
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (the `prepare` script).
// --max-semi-space-size=4: every thread's young generation stays at 4 MB semi-spaces
// (V8's default grows to 16 on the HTTP thread; the flag also overrides the workers'
// resourceLimits). Their garbage is short-lived; the smaller spaces collect as well and
// keep ~25-40 MB less resident: peak RSS with 1M events backlogged 260-294 MB instead of
// 285-312 (docs/benchmarks.md, session 8). Tests and benchmarks start the server with
// the flags of this line (test/helpers/switchyard.ts).
import { main } from '../dist/src/cli/main.js';
main(process.argv.slice(2)).catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
