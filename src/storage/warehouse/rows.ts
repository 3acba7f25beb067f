import {
  contextColumns, customColumns, eventTableName, SEGMENT_TABLES, type FlatValue,
} from '../../protocol/warehouse-naming.js';
import type { ColumnType } from './types.js';

/**
 * One Segment message → the rows Segment's warehouse schema holds for it
 * (seed 001, "Warehouse Schemas"): identify → identifies + users, group → groups +
 * accounts, page → pages, screen → screens, track → tracks + the event's own
 * table, alias → aliases. Every row has `id` (the messageId), the four
 * timestamps, `uuid_ts` (load time) and `context_*`; properties and traits are
 * un-prefixed columns.
 */
export interface WarehouseRow {
  table: string;
  /** users / accounts keep one row per id, updated with the latest non-null traits. */
  upsert: boolean;
  values: Map<string, FlatValue>;
}

/** The loader's own table in each schema, for values that could not be cast. */
export const DISCARDS_TABLE = 'discards';

/** Columns whose type is fixed by Segment's schema, not inferred. */
export const FIXED_TYPES: ReadonlyMap<string, ColumnType> = new Map([
  ['id', 'varchar'], ['anonymous_id', 'varchar'], ['user_id', 'varchar'], ['group_id', 'varchar'], ['previous_id', 'varchar'],
  ['event', 'varchar'], ['event_text', 'varchar'],
  ['received_at', 'timestamp'], ['sent_at', 'timestamp'], ['timestamp', 'timestamp'], ['original_timestamp', 'timestamp'], ['uuid_ts', 'timestamp'],
]);

/** Columns pages and screens set from the call itself (a property with the same name is discarded). */
const PAGE_COLUMNS = ['name', 'category'];

export interface RowsOutcome {
  rows: WarehouseRow[];
  /** Properties or traits dropped because they collide with a reserved column, per table. */
  collisions: { table: string; column: string }[];
}

export function rowsFor(message: Record<string, unknown>, uuidTs: string): RowsOutcome {
  const rows: WarehouseRow[] = [];
  const collisions: { table: string; column: string }[] = [];
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : null);
  const base = new Map<string, FlatValue>();
  base.set('id', str(message.messageId));
  base.set('anonymous_id', str(message.anonymousId));
  base.set('user_id', str(message.userId));
  base.set('received_at', str(message.receivedAt));
  base.set('sent_at', str(message.sentAt));
  base.set('timestamp', str(message.timestamp));
  base.set('original_timestamp', str(message.originalTimestamp));
  base.set('uuid_ts', uuidTs);
  for (const [k, v] of contextColumns(message.context)) base.set(k, v);

  const custom = (table: string, source: unknown, skip: readonly string[] = []) => {
    const { columns, discarded } = customColumns(source);
    for (const c of discarded) collisions.push({ table, column: c });
    const out = new Map<string, FlatValue>();
    for (const [k, v] of columns) {
      if (skip.includes(k)) collisions.push({ table, column: k });
      else out.set(k, v);
    }
    return out;
  };
  const row = (table: string, extra: Map<string, FlatValue>, own: [string, FlatValue][] = [], upsert = false) => {
    const values = new Map(upsert ? [] : base);
    for (const [k, v] of own) values.set(k, v);
    for (const [k, v] of extra) values.set(k, v);
    rows.push({ table, upsert, values });
  };

  switch (message.type) {
    case 'identify': {
      const traits = custom('identifies', message.traits);
      row('identifies', traits);
      const userId = str(message.userId);
      if (userId) row('users', traits, [['id', userId], ['received_at', base.get('received_at')!], ['uuid_ts', uuidTs]], true);
      break;
    }
    case 'group': {
      const traits = custom('groups', message.traits);
      const groupId = str(message.groupId);
      row('groups', traits, [['group_id', groupId]]);
      if (groupId) row('accounts', traits, [['id', groupId], ['received_at', base.get('received_at')!], ['uuid_ts', uuidTs]], true);
      break;
    }
    case 'page':
    case 'screen': {
      const props = (message.properties ?? {}) as Record<string, unknown>;
      const table = message.type === 'page' ? 'pages' : 'screens';
      row(table, custom(table, props, PAGE_COLUMNS), [
        ['name', str(message.name) ?? str(props.name)],
        ['category', str(message.category) ?? str(props.category)],
      ]);
      break;
    }
    case 'track': {
      const eventText = str(message.event);
      let table = eventText ? eventTableName(eventText) : '';
      // An event named like one of Segment's own tables must not mix its rows into it.
      if (SEGMENT_TABLES.has(table) || table === DISCARDS_TABLE) table = `_${table}`;
      const own: [string, FlatValue][] = [['event', table || null], ['event_text', eventText]];
      row('tracks', new Map(), own);
      if (table) row(table, custom(table, message.properties), own);
      break;
    }
    case 'alias':
      row('aliases', new Map(), [['previous_id', str(message.previousId)]]);
      break;
    default:
      break;
  }
  return { rows, collisions };
}
