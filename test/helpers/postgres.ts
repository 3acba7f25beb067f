/**
 * The PostgreSQL server the tests use: 127.0.0.1:5432, database `test` (the
 * warehouse tests use it too). Each test works in a schema of its own, named
 * `*_test_*`, dropped afterwards; nothing else is touched.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_URL = process.env.SWITCHYARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Connects or fails with a message that says what the test needs (tests never skip). */
export async function pgClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: PG_URL });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`these tests need PostgreSQL at ${PG_URL} (set SWITCHYARD_TEST_PG_URL to use another): ${(err as Error).message}`, { cause: err });
  }
  return client;
}

export function testSchemaName(prefix = 'cp'): string {
  return `${prefix}_test_${randomBytes(5).toString('hex')}`;
}

export async function dropTestSchema(schema: string): Promise<void> {
  // The guard the conventions ask for: only ever drop a schema a test created.
  if (!/_test_[0-9a-f]+$/.test(schema)) throw new Error(`refusing to drop schema ${schema}: not a test schema`);
  const client = await pgClient();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
