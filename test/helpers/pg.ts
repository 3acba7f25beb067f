import pg from 'pg';

/** The machine's PostgreSQL (loopback, database `test`), as warehouse tests use it. */
export const PG_URL = process.env.SWITCHYARD_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

/** One query on a fresh connection: rows as objects. */
export async function pgQuery(sql: string, url = PG_URL): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await c.end();
  }
}
