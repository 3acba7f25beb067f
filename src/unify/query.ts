/**
 * Reads of the identity graph for the Profile API (server/profile-api.ts): one
 * function per endpoint, over a query-only connection. Shapes follow segment-docs'
 * Profile API page; the HTTP layer adds cursors' URLs and error bodies.
 */
import type { UnifyDb } from './db.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const iso = (ms: number) => new Date(ms).toISOString();

export interface Page<T> {
  items: T[];
  /** Opaque cursor of the next page; '' when there is none. */
  next: string;
}

export interface TraitValue {
  value: unknown;
  source_id: string;
  updated_at: string;
}

export interface ExternalIdRecord {
  id: string;
  type: string;
  source_id: string;
  collection: 'users';
  created_at: string;
  encoding: 'none';
  first_message_id: string;
}

export interface EventQuery {
  limit: number;
  sort: 'asc' | 'desc';
  /** Epoch ms bounds on the event's timestamp: after `start`, before `end`. */
  start?: number;
  end?: number;
  include?: string[];
  exclude?: string[];
  next?: string;
}

const encodeCursor = (parts: (string | number)[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');

/** Decodes a cursor this module made; undefined when it is not one (the API answers 400 `next`). */
function decodeCursor(next: string): unknown[] | undefined {
  try {
    const v = JSON.parse(Buffer.from(next, 'base64url').toString('utf8')) as unknown;
    return Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export class ProfileReader {
  constructor(private readonly db: UnifyDb) {}

  /**
   * The profile an identifier names: `<type>:<value>` by external id (email matched
   * lower-cased, as it was stored), or `segment_id:use_...` (following merges).
   */
  find(type: string, value: string): string | undefined {
    if (type === 'segment_id') {
      const row = this.db.prepare(`SELECT id, merged_into FROM profiles WHERE id = ?`).get(value) as { id: string; merged_into: string | null } | undefined;
      return row ? (row.merged_into ?? row.id) : undefined;
    }
    const v = type === 'email' ? value.trim().toLowerCase() : value;
    return (this.db.prepare(`SELECT profile_id FROM external_ids WHERE type = ? AND value = ?`).get(type, v) as { profile_id: string } | undefined)?.profile_id;
  }

  /** Traits in name order; `include` picks names; `next` is the name to continue after. */
  traits(profileId: string, q: { limit: number; include?: string[]; next?: string }): Page<[string, TraitValue]> | undefined {
    let after = '';
    if (q.next) {
      const c = decodeCursor(q.next);
      if (!c || typeof c[0] !== 'string') return undefined;
      after = c[0];
    }
    const params: unknown[] = [profileId, after];
    let filter = '';
    if (q.include) {
      filter = ` AND name IN (${q.include.map(() => '?').join(',')})`;
      params.push(...q.include);
    }
    const rows = this.db.prepare(`SELECT name, value, source_id, updated_at FROM traits WHERE profile_id = ? AND name > ?${filter} ORDER BY name LIMIT ?`)
      .all(...params, q.limit + 1) as { name: string; value: string; source_id: string; updated_at: number }[];
    const more = rows.length > q.limit;
    const items = rows.slice(0, q.limit).map((r): [string, TraitValue] => [r.name, { value: JSON.parse(r.value) as unknown, source_id: r.source_id, updated_at: iso(r.updated_at) }]);
    return { items, next: more ? encodeCursor([items[items.length - 1]![0]]) : '' };
  }

  /** External ids, first seen first; `include` picks types. */
  externalIds(profileId: string, q: { limit: number; include?: string[]; next?: string }): Page<ExternalIdRecord> | undefined {
    let offset = 0;
    if (q.next) {
      const c = decodeCursor(q.next);
      if (!c || typeof c[0] !== 'number' || !Number.isInteger(c[0]) || c[0] < 0) return undefined;
      offset = c[0];
    }
    const params: unknown[] = [profileId];
    let filter = '';
    if (q.include) {
      filter = ` AND type IN (${q.include.map(() => '?').join(',')})`;
      params.push(...q.include);
    }
    const rows = this.db.prepare(`SELECT type, value, source_id, first_message_id, created_at FROM external_ids WHERE profile_id = ?${filter}
      ORDER BY created_at, type, value LIMIT ? OFFSET ?`).all(...params, q.limit + 1, offset) as
      { type: string; value: string; source_id: string; first_message_id: string; created_at: number }[];
    const more = rows.length > q.limit;
    const items = rows.slice(0, q.limit).map((r): ExternalIdRecord => ({
      id: r.value, type: r.type, source_id: r.source_id, collection: 'users', created_at: iso(r.created_at), encoding: 'none', first_message_id: r.first_message_id,
    }));
    return { items, next: more ? encodeCursor([offset + q.limit]) : '' };
  }

  /** Events newest first (or oldest with `sort: asc`), in Segment's event shape. */
  events(profileId: string, q: EventQuery): Page<Obj> | undefined {
    const desc = q.sort === 'desc';
    const where = ['profile_id = ?'];
    const params: unknown[] = [profileId];
    if (q.next) {
      const c = decodeCursor(q.next);
      if (!c || typeof c[0] !== 'number' || typeof c[1] !== 'number') return undefined;
      where.push(desc ? '(ts < ? OR (ts = ? AND id < ?))' : '(ts > ? OR (ts = ? AND id > ?))');
      params.push(c[0], c[0], c[1]);
    }
    if (q.start !== undefined) {
      where.push('ts > ?');
      params.push(q.start);
    }
    if (q.end !== undefined) {
      where.push('ts < ?');
      params.push(q.end);
    }
    if (q.include) {
      where.push(`event IN (${q.include.map(() => '?').join(',')})`);
      params.push(...q.include);
    }
    if (q.exclude) {
      where.push(`(event IS NULL OR event NOT IN (${q.exclude.map(() => '?').join(',')}))`);
      params.push(...q.exclude);
    }
    const dir = desc ? 'DESC' : 'ASC';
    const rows = this.db.prepare(`SELECT id, profile_id, source_id, message_id, type, event, ts, external_ids, body FROM events
      WHERE ${where.join(' AND ')} ORDER BY ts ${dir}, id ${dir} LIMIT ?`).all(...params, q.limit + 1) as
      { id: number; profile_id: string; source_id: string; message_id: string; type: string; event: string | null; ts: number; external_ids: string; body: string }[];
    const more = rows.length > q.limit;
    const page = rows.slice(0, q.limit);
    const items = page.map((r) => {
      const msg = JSON.parse(r.body) as Obj;
      const out: Obj = {
        external_ids: (JSON.parse(r.external_ids) as { type: string; id: string }[]).map((x) => ({ collection: 'users', type: x.type, id: x.id, encoding: 'none' })),
        context: isObj(msg.context) ? msg.context : {},
        type: r.type,
        message_id: r.message_id,
        source_id: r.source_id,
        timestamp: iso(r.ts),
        properties: isObj(msg.properties) ? msg.properties : {},
        event: r.event,
        related: { users: r.profile_id },
      };
      if (r.type === 'identify' || r.type === 'group') out.traits = isObj(msg.traits) ? msg.traits : {};
      return out;
    });
    const last = page[page.length - 1];
    return { items, next: more && last ? encodeCursor([last.ts, last.id]) : '' };
  }

  metadata(profileId: string): Obj {
    const r = this.db.prepare(`SELECT created_at, updated_at, first_message_id, first_source_id, last_message_id, last_source_id FROM profiles WHERE id = ?`)
      .get(profileId) as { created_at: number; updated_at: number; first_message_id: string; first_source_id: string; last_message_id: string; last_source_id: string };
    return {
      created_at: iso(r.created_at),
      updated_at: iso(r.updated_at),
      expires_at: null,
      first_message_id: r.first_message_id,
      first_source_id: r.first_source_id,
      last_message_id: r.last_message_id,
      last_source_id: r.last_source_id,
    };
  }

  /** Accounts the user is linked to (group calls), one link per group_id. */
  links(profileId: string, limit: number): Obj[] {
    const rows = this.db.prepare(`SELECT group_id, source_id, created_at FROM links WHERE profile_id = ? ORDER BY created_at, group_id LIMIT ?`)
      .all(profileId, limit) as { group_id: string; source_id: string; created_at: number }[];
    return rows.map((r) => ({
      to_collection: 'accounts',
      external_ids: [{ id: r.group_id, type: 'group_id', source_id: r.source_id, collection: 'accounts', created_at: iso(r.created_at), encoding: 'none' }],
    }));
  }
}
