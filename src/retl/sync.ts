import type { RetlMapping, RetlModel, RetlSource } from './config.js';
import type { Deliver } from './deliver.js';
import { diffRows, type Change } from './diff.js';
import type { Extractor } from './extract.js';
import { toMessage } from './message.js';
import type { RetlState, SnapshotWrite, SyncCounts, SyncRecord } from './state.js';

/**
 * One sync of one model: extract → diff against the snapshot → one event per change
 * and matching mapping → deliver → advance the snapshot. The caller runs one sync
 * per model at a time (`server/retl-host.ts`).
 *
 * We MUST advance a record's snapshot only after every event it owed was delivered:
 * a record whose event failed keeps its old hash (or stays absent, or stays present
 * when deleted), so the next sync finds the same change and sends it again. Each
 * record advances on its own (written in transactions of up to ADVANCE_BATCH records
 * once their deliveries settled), so a crash in the middle re-sends the records not
 * yet written (same messageIds) rather than loses them. A change no
 * enabled mapping wants (e.g. a deletion without the `deleted` trigger) advances at
 * once: nothing was owed.
 */
export interface SyncDeps {
  state: RetlState;
  extract: Extractor;
  deliver: Deliver;
  now?: () => number;
  /** Deliveries in flight at once (default 8). */
  concurrency?: number;
}

export interface SyncInput {
  model: RetlModel;
  source: RetlSource;
  /** The model's mappings (disabled ones are skipped here). */
  mappings: readonly RetlMapping[];
  trigger: SyncRecord['trigger'];
}

const MAX_SAMPLES = 10;
/** Records whose snapshot rows are written in one transaction. */
const ADVANCE_BATCH = 500;

export async function runSync(input: SyncInput, deps: SyncDeps): Promise<SyncRecord> {
  const now = deps.now ?? Date.now;
  const { model } = input;
  const id = deps.state.startSync(model.id, input.trigger, now());
  const counts: SyncCounts = { rowsExtracted: 0, added: 0, updated: 0, deleted: 0, recordErrors: 0, eventsDelivered: 0, eventsFailed: 0 };
  const samples: string[] = [];
  const sample = (text: string) => void (samples.length < MAX_SAMPLES && samples.push(text));
  const finish = (status: 'success' | 'partial' | 'failed', error: string | null) => {
    deps.state.finishSync(id, status, counts, error, samples, now());
    return deps.state.sync(id)!;
  };

  let extracted;
  try {
    extracted = await deps.extract(input.source, model.query);
  } catch (err) {
    // The database's own message (syntax error, missing table, connection refused): the user fixes the model.
    return finish('failed', `extracting from source "${input.source.id}" failed: ${(err as Error).message}`);
  }
  counts.rowsExtracted = extracted.rows.length;
  if (!extracted.columns.includes(model.primaryKey)) {
    return finish('failed', `the query's result has no column "${model.primaryKey}" (the model's primary key); its columns: ${extracted.columns.map((c) => `"${c}"`).join(', ') || '(none)'}`);
  }

  try {
    const diff = diffRows(extracted.rows, model.primaryKey, extracted.columns, deps.state.snapshot(model.id));
    counts.recordErrors = diff.errors.length;
    for (const e of diff.errors) sample(`row ${e.index + 1}: ${e.message}`);
    for (const c of diff.changes) counts[c.kind]++;

    const mappings = input.mappings.filter((m) => m.enabled && m.modelId === model.id);
    const writes: SnapshotWrite[] = [];
    const handle = async (change: Change) => {
      let ok = true;
      for (const mapping of mappings) {
        if (!mapping.triggers.includes(change.kind)) continue;
        const message = toMessage(model, mapping, change, now());
        const result = message.ok ? await deps.deliver(mapping.destinationId, message.value) : { ok: false as const, reason: message.error };
        if (result.ok) counts.eventsDelivered++;
        else {
          ok = false;
          counts.eventsFailed++;
          sample(`mapping "${mapping.id}", record "${change.key}" (${change.kind}): ${result.reason}`);
        }
      }
      if (ok) writes.push({ key: change.key, hash: change.kind === 'deleted' ? null : change.hash });
      if (writes.length >= ADVANCE_BATCH) deps.state.advance(model.id, writes.splice(0));
    };
    await eachLimited(diff.changes, deps.concurrency ?? 8, handle);
    deps.state.advance(model.id, writes.splice(0));
  } catch (err) {
    // retl.db refused a write (disk full, I/O error): what was written stays advanced, the rest is sent again next time.
    return finish('failed', `the sync stopped: ${(err as Error).message}`);
  }
  const partial = counts.eventsFailed > 0 || counts.recordErrors > 0;
  return finish(partial ? 'partial' : 'success', partial ? `${counts.eventsFailed} event(s) failed, ${counts.recordErrors} record(s) in error` : null);
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
