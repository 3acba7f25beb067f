import type { ControlPlaneDb } from './db.js';
import { POSTGRES_MIGRATIONS } from './postgres-schema.js';
import { COMPONENT, MIGRATIONS, type Migration } from './sqlite-schema.js';

/**
 * Runs the control-plane migrations not applied yet, on either backend.
 * `schema_migrations` is keyed by component (the SQLite file is shared with other
 * modules). Idempotent and safe when several threads/processes open the same
 * store at once: it runs under a lock (SQLite BEGIN IMMEDIATE, PostgreSQL an
 * advisory lock), so two openers never both apply one migration.
 */
export async function migrateControlPlane(store: ControlPlaneDb, migrations: readonly Migration[] = MIGRATIONS): Promise<void> {
  const scripts = migrations.map((m) => ({ ...m, script: scriptFor(m, store.dialect) }));
  const time = store.dialect === 'postgres' ? 'BIGINT' : 'INTEGER';
  await store.migrationLock(async (tx) => {
    await store.exec(tx, `CREATE TABLE IF NOT EXISTS schema_migrations (
      component TEXT NOT NULL,
      version INTEGER NOT NULL,
      name TEXT NOT NULL,
      applied_at ${time} NOT NULL,
      PRIMARY KEY (component, version)
    )`);
    const rows = await tx.selectFrom('schema_migrations').select('version').where('component', '=', COMPONENT).execute();
    const done = new Set(rows.map((r) => Number(r.version)));
    for (const m of scripts) {
      if (done.has(m.version)) continue;
      await store.exec(tx, m.script);
      await tx.insertInto('schema_migrations')
        .values({ component: COMPONENT, version: m.version, name: m.name, applied_at: Date.now() }).execute();
    }
  });
}

function scriptFor(m: Migration, dialect: ControlPlaneDb['dialect']): string {
  if (dialect === 'sqlite') return m.sql;
  const script = POSTGRES_MIGRATIONS[m.version];
  // Checked before anything runs: SQLite's SQL is not PostgreSQL's (types, triggers).
  if (script === undefined) throw new Error(`control-plane migration ${m.version} (${m.name}) has no PostgreSQL script in src/store/postgres-schema.ts`);
  return script;
}
