/**
 * The loader thread starts only when there is something to load (it costs ~33 MB of
 * RSS idle): a warehouse or a data lake, declared at start or later, or a storage
 * lane left by a warehouse deleted while the process was down, which it removes.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startSwitchyard, tempDir } from './helpers/switchyard.js';
import { waitUntil } from './helpers/e2e.js';

const SOURCE = `lazy-${process.pid}`;
const base = `workspace: { slug: acme }
sources:
  - slug: ${SOURCE}
    writeKey: wk_lazy
`;
const withWarehouse = `${base}warehouses:
  - id: local
    type: duckdb
    sources: [${SOURCE}]
    settings: { syncIntervalSeconds: 3600 }
`;

function laneIds(dataDir: string): string[] {
  const db = new Database(path.join(dataDir, 'log.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare(`SELECT lane_id FROM lanes`).all() as { lane_id: string }[]).map((r) => r.lane_id);
  } finally {
    db.close();
  }
}

test('a warehouse declared after start gets its loader; one deleted while stopped has its lane removed at the next start', async () => {
  const dataDir = tempDir();
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  // No warehouse: no loader thread, so no storage lane.
  let sy = await startSwitchyard({ workspace: base, dataDir });
  try {
    assert.deepEqual(laneIds(dataDir).filter((id) => id.startsWith('warehouse:')), []);
    // Declared in the watched workspace file: the loader starts and its lane exists.
    fs.writeFileSync(sy.configFile, withWarehouse);
    await waitUntil('the loader lane of the new warehouse', () => laneIds(dataDir).includes('warehouse:local'), { timeoutMs: 20_000, describe: () => laneIds(dataDir) });
  } finally {
    await sy.stop();
  }
  // Deleted while Switchyard was down: at the next start the stale lane (which would
  // keep the log from pruning) makes the loader thread start and remove it.
  sy = await startSwitchyard({ workspace: base, dataDir });
  try {
    await waitUntil('the stale warehouse lane to be removed', () => !laneIds(dataDir).includes('warehouse:local'), { timeoutMs: 20_000, describe: () => laneIds(dataDir) });
  } finally {
    await sy.stop();
  }
});
