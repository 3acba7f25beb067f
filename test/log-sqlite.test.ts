import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteEventLog } from '../src/log/sqlite/log.js';
import type { EventLog } from '../src/log/types.js';
import { logContract } from './log-contract.js';

const opened = new WeakMap<EventLog, { path: string; dedupeWindowMs: number; retentionMs: number }>();

logContract('sqlite', {
  async create(opts) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-log-'));
    const options = { path: path.join(dir, 'log.db'), ...opts };
    const log = new SqliteEventLog(options);
    opened.set(log, options);
    return log;
  },
  async reopen(log) {
    const options = opened.get(log)!;
    await log.close();
    const next = new SqliteEventLog(options);
    opened.set(next, options);
    return next;
  },
});
