import type BetterSqlite3 from 'better-sqlite3';
import { encryptSecret } from './secrets.js';

/**
 * Rewrites one secret key of a destination instance's stored settings (e.g. the
 * `oauth` tokens an Actions destination just refreshed), encrypted like every
 * secret, and bumps the control-plane version so every reader (the router's
 * snapshot, the API) sees it. The bump makes the router rebuild that instance's
 * runner: the old one stops gracefully (in-flight deliveries settle) and the new
 * one resumes the same lane, now built from the new tokens.
 *
 * The workspace file stays the source of truth: a later apply of the file
 * (a change to it, or a restart) puts the file's value back, and the next 401
 * refreshes again.
 */
export function createSecretUpdater(db: BetterSqlite3.Database, secretKey: Buffer): (destinationId: string, key: string, value: unknown) => number {
  const q = {
    row: db.prepare('SELECT settings, secret_settings FROM cp_destinations WHERE id = ?'),
    update: db.prepare('UPDATE cp_destinations SET settings = ?, updated_at = ? WHERE id = ?'),
    version: db.prepare("SELECT value FROM cp_meta WHERE key = 'version'").pluck(),
    setVersion: db.prepare("INSERT INTO cp_meta (key, value) VALUES ('version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
  };
  const tx = db.transaction((destinationId: string, key: string, value: unknown): number => {
    const row = q.row.get(destinationId) as { settings: string; secret_settings: string } | undefined;
    if (!row) throw new Error(`destination "${destinationId}" does not exist`);
    const secretKeys = JSON.parse(row.secret_settings) as string[];
    // Only secret keys: this path must never write a plaintext setting behind the file's back.
    if (!secretKeys.includes(key)) throw new Error(`"${key}" is not a secret setting of destination "${destinationId}"`);
    if (value === undefined) throw new Error('a secret cannot be set to undefined');
    const settings = JSON.parse(row.settings) as Record<string, unknown>;
    settings[key] = encryptSecret(secretKey, JSON.stringify(value));
    q.update.run(JSON.stringify(settings), Date.now(), destinationId);
    const version = Number(q.version.get()) + 1;
    q.setVersion.run(version);
    return version;
  });
  return (destinationId, key, value) => tx.immediate(destinationId, key, value);
}
