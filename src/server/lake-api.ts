import type { FastifyInstance } from 'fastify';
import type { SyncHistory } from '../storage/warehouse/history.js';
import { LAKE_HISTORY_PREFIX } from '../storage/lake/types.js';
import type { LakeConfig } from '../storage/lake/types.js';
import type { SyncRecord } from '../storage/warehouse/types.js';

/**
 * Data Lakes sync history and health (seed 001, "Data Lakes Sync History and
 * Health"): the latest 100 syncs (status, start, duration, rows, rows per
 * collection, error), rows synced per day over the last 30 days with the
 * collections of each day, and a sync on demand. Runs live in the warehouses'
 * sync history (`warehouse-syncs.db`) under `datalake:<id>`; each run also wrote
 * its report.json into the lake (seed 000).
 */
export interface LakeApiDeps {
  history: SyncHistory;
  /** The data lakes the workspace file declares (enabled ones). */
  lakes: () => readonly LakeConfig[];
  syncNow: (id: string) => Promise<boolean>;
}

export function registerLakeApi(app: FastifyInstance, deps: LakeApiDeps): void {
  const find = (id: string) => deps.lakes().find((l) => l.id === id);
  const key = (id: string) => `${LAKE_HISTORY_PREFIX}${id}`;

  app.get<{ Params: { id: string }; Querystring: { sourceId?: string; limit?: string } }>('/api/v1/data-lakes/:id/syncs', async (req, reply) => {
    if (!find(req.params.id)) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no data lake "${req.params.id}"` }] });
    const limit = Math.min(Math.max(Number(req.query.limit ?? 100) || 100, 1), 100);
    return { data: { syncs: deps.history.list(key(req.params.id), { sourceId: req.query.sourceId, limit }).map(lakeSync) } };
  });

  app.get<{ Params: { id: string } }>('/api/v1/data-lakes/:id/health', async (req, reply) => {
    if (!find(req.params.id)) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no data lake "${req.params.id}"` }] });
    const now = new Date();
    const since = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - 29 * 86_400_000;
    // Per day: rows, and per collection its rows and share of the day ("Daily Row Volume").
    const days = new Map<string, { day: string; rows: number; collections: Map<string, number> }>();
    for (let d = 0; d < 30; d++) {
      const day = new Date(since + d * 86_400_000).toISOString().slice(0, 10);
      days.set(day, { day, rows: 0, collections: new Map() });
    }
    for (const s of deps.history.list(key(req.params.id), { limit: 100_000 })) {
      if (s.status !== 'success' || Date.parse(s.finishedAt) < since) continue;
      const entry = days.get(s.finishedAt.slice(0, 10));
      if (!entry) continue;
      for (const [table, n] of Object.entries(s.rows)) {
        entry.rows += n;
        entry.collections.set(table, (entry.collections.get(table) ?? 0) + n);
      }
    }
    const list = [...days.values()].map((d) => ({
      day: d.day,
      rows: d.rows,
      collections: [...d.collections].sort((a, b) => b[1] - a[1]).map(([collection, rows]) => ({
        collection, rows, percent: d.rows > 0 ? Math.round((rows / d.rows) * 10_000) / 100 : 0,
      })),
    }));
    const today = list[list.length - 1]!;
    return { data: { today: { day: today.day, rows: today.rows, collections: today.collections.length }, days: list } };
  });

  app.post<{ Params: { id: string } }>('/api/v1/data-lakes/:id/sync', async (req, reply) => {
    if (!find(req.params.id)) return reply.code(404).send({ errors: [{ type: 'not-found', message: `no data lake "${req.params.id}"` }] });
    const found = await deps.syncNow(req.params.id);
    if (!found) return reply.code(409).send({ errors: [{ type: 'conflict', message: `data lake "${req.params.id}" is not running (see the server log)` }] });
    return { data: { syncs: deps.history.list(key(req.params.id), { limit: 1 }).map(lakeSync) } };
  });
}

/** A sync history row as the Data Lakes Sync History tab shows it. */
function lakeSync(r: SyncRecord) {
  const m = r.error ? /^(Segment\.[A-Za-z]+): ([\s\S]*)$/.exec(r.error) : null;
  return {
    runId: r.runId,
    sourceId: r.sourceId,
    status: r.status === 'success' ? 'finished' : 'failed',
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationSeconds: Math.max(0, (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000),
    rows: Object.values(r.rows).reduce((a, b) => a + b, 0),
    collections: r.rows,
    error: m ? m[2] : r.error,
    errorCode: m ? m[1] : r.error ? 'Segment.Internal' : null,
  };
}
