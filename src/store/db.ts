import type BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type Generated, type Transaction } from 'kysely';
import type pg from 'pg';

/**
 * The control plane's query layer: one set of Kysely queries over two dialects,
 * the embedded SQLite file (better-sqlite3) and PostgreSQL (a `pg` pool). What
 * differs between them lives here (transactions, locking, change notification)
 * and in the migrations (column types); every query elsewhere is shared.
 */
export interface ControlPlaneTables {
  cp_meta: { key: string; value: string | number };
  cp_workspaces: { id: string; slug: string; name: string; rate_limit_per_second: number; origin: string; created_at: number; updated_at: number };
  cp_sources: {
    id: string; workspace_id: string; slug: string; name: string; enabled: number; origin: string; created_at: number; updated_at: number;
    metadata_id: Generated<string>; settings: Generated<string>; labels: Generated<string>;
  };
  cp_write_keys: { write_key: string; source_id: string };
  cp_destinations: {
    id: string; workspace_id: string; name: string; type: string; enabled: number; settings: string; secret_settings: string;
    origin: string; created_at: number; updated_at: number; filters: string;
  };
  cp_destination_sources: { destination_id: string; source_id: string; name: string };
  cp_labels: { key: string; value: string; description: string | null; created_at: number };
  cp_users: { id: string; email: string; name: string; password_hash: string; permissions: string; created_at: number };
  cp_sessions: { id_hash: string; user_id: string; csrf_token: string; created_at: number; expires_at: number };
  cp_invites: {
    token_hash: string; email: string; permissions: string; invited_by: string; created_at: number; expires_at: number; accepted_at: number | null;
  };
  cp_tokens: {
    id: string; description: string; token_hash: string; permissions: string; created_by: string; created_at: number;
    last_used_at: number | null; revoked_at: number | null;
  };
  cp_audit: {
    seq: Generated<number>; id: string; ts: number; type: string; actor: string; actor_email: string | null; resource_id: string;
    resource_type: string; resource_name: string; before: string | null; after: string | null;
  };
  cp_warehouses: {
    id: string; workspace_id: string; name: string; type: string; enabled: number; settings: string; secret_settings: string;
    sync_overrides: string; schedule: string | null; origin: string; created_at: number; updated_at: number;
  };
  cp_warehouse_sources: { warehouse_id: string; source_id: string };
  cp_alert_rules: { id: string; body: string; state: Generated<string> };
  cp_alert_notifications: { id: Generated<number>; alert_id: string; at: number; status: string; message: string };
  cp_failure_log_collections: { destination_id: string; collection_id: string; enabled: number; updated_at: number };
  cp_functions: {
    id: string; workspace_id: string; resource_type: string; display_name: string; description: string; logo_url: string;
    latest_version: number; deployed_version: number | null; deployed_at: number | null; created_by: string; created_at: number; updated_at: number;
  };
  cp_function_versions: { function_id: string; version: number; code: string; settings: string; created_by: string; created_at: number };
  cp_insert_functions: {
    id: string; function_id: string; destination_id: string; name: string; enabled: number; settings: string; secret_settings: string;
    created_at: number; updated_at: number;
  };
  schema_migrations: { component: string; version: number; name: string; applied_at: number };
}

export type Db = Kysely<ControlPlaneTables>;
export type Tx = Transaction<ControlPlaneTables> | Db;

/** Adds one to the version inside a write transaction and announces it; returns the new version. */
export async function bumpVersion(cp: ControlPlaneDb, tx: Tx): Promise<number> {
  const row = await tx.selectFrom('cp_meta').select('value').where('key', '=', 'version').executeTakeFirstOrThrow();
  const version = Number(row.value) + 1;
  await tx.updateTable('cp_meta').set({ value: version }).where('key', '=', 'version').execute();
  await cp.notify(tx, version);
  return version;
}
export type DialectName = 'sqlite' | 'postgres';

/** The NOTIFY channel; the payload is `<schema>:<version>` so stores on other schemas ignore it. */
export const CHANGE_CHANNEL = 'switchyard_control_plane';

export interface ControlPlaneDb {
  readonly dialect: DialectName;
  readonly db: Db;
  /** Runs a migration script (several statements) on the transaction's connection. */
  exec(tx: Tx, script: string): Promise<void>;
  /**
   * A transaction that serializes with every other control-plane write (SQLite:
   * BEGIN IMMEDIATE; PostgreSQL: the version row locked FOR UPDATE), so a
   * read-modify-write of the version never loses a bump.
   */
  write<R>(fn: (tx: Tx) => Promise<R>): Promise<R>;
  /** A plain transaction (IAM writes that do not touch the version). */
  transaction<R>(fn: (tx: Tx) => Promise<R>): Promise<R>;
  /** A consistent read (one snapshot of the data across several queries). */
  read<R>(fn: (tx: Tx) => Promise<R>): Promise<R>;
  /** Migrations run under this lock, so two processes starting together never both apply one. */
  migrationLock<R>(fn: (tx: Tx) => Promise<R>): Promise<R>;
  /** Tells the other processes the version changed (PostgreSQL: NOTIFY in the same transaction). */
  notify(tx: Tx, version: number): Promise<void>;
  /** Lets SQLite check foreign keys at commit (PostgreSQL declares them deferred). */
  deferForeignKeys(tx: Tx): Promise<void>;
  /** True for a unique or primary-key violation. */
  isUniqueViolation(err: unknown): boolean;
  /** Subscribes to version changes made by other processes (PostgreSQL LISTEN); SQLite has none (polling only). */
  listen?(onNotify: () => void): () => Promise<void>;
  close(): Promise<void>;
}

/** A transaction on the single connection `db.connection()` hands out (Kysely's own cannot BEGIN IMMEDIATE). */
async function inTransaction<R>(db: Db, begin: string, fn: (tx: Tx) => Promise<R>, after?: (tx: Tx) => Promise<void>): Promise<R> {
  return db.connection().execute(async (conn) => {
    await sql.raw(begin).execute(conn);
    try {
      if (after) await after(conn);
      const result = await fn(conn);
      await sql.raw('COMMIT').execute(conn);
      return result;
    } catch (err) {
      await sql.raw('ROLLBACK').execute(conn).catch(() => {});
      throw err;
    }
  });
}

/**
 * Uses the caller's better-sqlite3 handle as is (WAL, busy_timeout set by the
 * caller) and never closes it: other modules share the connection.
 */
export function sqliteDb(handle: BetterSqlite3.Database): ControlPlaneDb {
  const db = new Kysely<ControlPlaneTables>({
    dialect: new SqliteDialect({ database: { prepare: (s: string) => handle.prepare(s), close: () => {} } }),
  });
  return {
    dialect: 'sqlite',
    db,
    // One connection: the script runs inside the caller's transaction.
    exec: async (_tx, script) => void handle.exec(script),
    write: (fn) => inTransaction(db, 'BEGIN IMMEDIATE', fn),
    transaction: (fn) => inTransaction(db, 'BEGIN IMMEDIATE', fn),
    read: (fn) => inTransaction(db, 'BEGIN', fn),
    migrationLock: (fn) => inTransaction(db, 'BEGIN IMMEDIATE', fn),
    notify: async () => {},
    deferForeignKeys: async (tx) => void (await sql`PRAGMA defer_foreign_keys = ON`.execute(tx)),
    isUniqueViolation: (err) => {
      const code = (err as { code?: unknown }).code;
      return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
    },
    close: () => db.destroy(),
  };
}

export interface PostgresStoreSettings {
  /** postgres://… or postgresql://… */
  url: string;
  /** Where the tables live (created when missing); default `switchyard`. */
  schema?: string;
  /** Pool size; default 4. */
  maxConnections?: number;
}

export const DEFAULT_SCHEMA = 'switchyard';

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

export async function postgresDb(settings: PostgresStoreSettings): Promise<ControlPlaneDb> {
  // Loaded here: a server on the embedded SQLite store never needs the driver.
  const { default: pg } = await import('pg');
  /** int8 (count(*), BIGINT epoch-ms columns) as a JS number: every value here fits in 2^53. */
  const types = {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
  };
  const schema = settings.schema ?? DEFAULT_SCHEMA;
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) throw new Error(`the control-plane schema name "${schema}" must be a plain SQL identifier`);
  const clientConfig = { connectionString: settings.url, types, options: `-c search_path=${schema}` };
  // The schema must exist before the pool's search_path can point at it.
  const setup = new pg.Client({ connectionString: settings.url });
  try {
    await setup.connect();
  } catch (err) {
    throw new Error(`cannot connect to the PostgreSQL control-plane store (SWITCHYARD_STORE): ${(err as Error).message}`, { cause: err });
  }
  try {
    await setup.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`).catch(async (err: unknown) => {
      // Two processes creating it at once: one wins, the other sees it exists.
      const code = (err as { code?: string }).code;
      if (code !== '23505' && code !== '42P06') throw err;
    });
  } finally {
    await setup.end();
  }
  const pool = new pg.Pool({ ...clientConfig, max: settings.maxConnections ?? 4 });
  // An idle client that loses its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const db = new Kysely<ControlPlaneTables>({ dialect: new PostgresDialect({ pool }) });
  const lockVersion = async (tx: Tx) => void (await sql`SELECT value FROM cp_meta WHERE key = 'version' FOR UPDATE`.execute(tx));
  return {
    dialect: 'postgres',
    db,
    // No parameters: pg sends it as a simple query, which may hold several statements.
    exec: async (tx, script) => void (await sql.raw(script).execute(tx)),
    write: (fn) => inTransaction(db, 'BEGIN', fn, lockVersion),
    transaction: (fn) => inTransaction(db, 'BEGIN', fn),
    read: (fn) => inTransaction(db, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', fn),
    migrationLock: (fn) => inTransaction(db, 'BEGIN', fn, async (tx) => {
      await sql`SELECT pg_advisory_xact_lock(hashtext(${`switchyard_control_plane:${schema}`}))`.execute(tx);
    }),
    notify: async (tx, version) => void (await sql`SELECT pg_notify(${CHANGE_CHANNEL}, ${`${schema}:${version}`})`.execute(tx)),
    deferForeignKeys: async () => {},
    isUniqueViolation: (err) => (err as { code?: unknown }).code === '23505',
    listen: (onNotify) => listenForChanges(pg, clientConfig, schema, onNotify),
    close: () => db.destroy(),
  };
}

/**
 * LISTEN on a dedicated connection (a pooled one would be handed to queries and
 * lose the subscription). A dropped connection is re-opened after a second; the
 * caller's polling covers the gap.
 */
function listenForChanges(driver: typeof pg, config: pg.ClientConfig, schema: string, onNotify: () => void): () => Promise<void> {
  let client: pg.Client | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const retry = () => {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, 1000);
    timer.unref();
  };
  const connect = async () => {
    const c = new driver.Client(config);
    client = c;
    c.on('error', () => {
      void c.end().catch(() => {});
      retry();
    });
    c.on('end', retry);
    c.on('notification', (msg) => {
      if (msg.channel === CHANGE_CHANNEL && (msg.payload ?? '').startsWith(`${schema}:`)) onNotify();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANGE_CHANNEL}`);
      if (stopped) return void (await c.end());
      // Changes made while the connection was down are not replayed: read the version once.
      onNotify();
    } catch {
      void c.end().catch(() => {});
      retry();
    }
  };
  void connect();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await client?.end().catch(() => {});
  };
}
