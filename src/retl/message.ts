import { createHash } from 'node:crypto';
import { MAX_PROPERTIES } from '../protocol/limits.js';
import { enrichMessage } from '../protocol/normalize.js';
import type { JsonObject, SegmentMessage } from '../protocol/types.js';
import type { Result } from '../protocol/types.js';
import type { RetlMapping, RetlModel } from './config.js';
import type { Change } from './diff.js';

/**
 * A changed record as a Segment event, per its mapping: identify (traits = the
 * record's columns) or track (properties = the columns, `event` from the mapping).
 * The messageId is a hash of model, mapping, key, row hash and trigger: the same
 * change sent again (a retry, a crash before the snapshot advanced) has the same id,
 * so destinations that dedupe on it see it once; a later change has a new one.
 */
export function messageId(modelId: string, mappingId: string, change: Pick<Change, 'key' | 'hash' | 'kind'>): string {
  const h = createHash('sha256').update(JSON.stringify([modelId, mappingId, change.key, change.hash, change.kind])).digest('hex');
  return `retl-${h.slice(0, 32)}`;
}

function idValue(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length > 0 ? v : undefined;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return undefined;
}

export function toMessage(model: RetlModel, mapping: RetlMapping, change: Change, now: number): Result<SegmentMessage, string> {
  const { action } = mapping;
  const userId = action.userIdColumn ? idValue(change.row[action.userIdColumn]) : undefined;
  const anonymousId = action.anonymousIdColumn ? idValue(change.row[action.anonymousIdColumn]) : undefined;
  if (userId === undefined && anonymousId === undefined) {
    const columns = [action.userIdColumn, action.anonymousIdColumn].filter(Boolean).map((c) => `"${c}"`).join(' or ');
    return { ok: false, error: `record "${change.key}": no userId or anonymousId (column ${columns} is empty${change.kind === 'deleted' ? ' in a deleted record, which carries only its primary key' : ''})` };
  }
  const columns = change.row as JsonObject;
  const base: SegmentMessage = {
    type: action.type,
    messageId: messageId(model.id, mapping.id, change),
    ...(userId !== undefined ? { userId } : {}),
    ...(anonymousId !== undefined ? { anonymousId } : {}),
    ...(action.type === 'track' ? { event: action.event!, properties: { ...columns } } : { traits: { ...columns } }),
    context: { library: { name: 'switchyard-reverse-etl', version: '1' }, reverseEtl: { modelId: model.id, mappingId: mapping.id, trigger: change.kind, primaryKey: change.key } },
    integrations: {},
  };
  const { message } = enrichMessage(base, { receivedAt: now, channel: 'server', maxProperties: MAX_PROPERTIES, newMessageId: () => base.messageId });
  return { ok: true, value: message };
}
