import { bumpVersion, type ControlPlaneDb } from './db.js';
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
export function createSecretUpdater(cp: ControlPlaneDb, secretKey: Buffer): (destinationId: string, key: string, value: unknown) => Promise<number> {
  return (destinationId, key, value) => cp.write(async (tx) => {
    const row = await tx.selectFrom('cp_destinations').select(['settings', 'secret_settings']).where('id', '=', destinationId).executeTakeFirst();
    if (!row) throw new Error(`destination "${destinationId}" does not exist`);
    const secretKeys = JSON.parse(row.secret_settings) as string[];
    // Only secret keys: this path must never write a plaintext setting behind the file's back.
    if (!secretKeys.includes(key)) throw new Error(`"${key}" is not a secret setting of destination "${destinationId}"`);
    if (value === undefined) throw new Error('a secret cannot be set to undefined');
    const settings = JSON.parse(row.settings) as Record<string, unknown>;
    settings[key] = encryptSecret(secretKey, JSON.stringify(value));
    await tx.updateTable('cp_destinations').set({ settings: JSON.stringify(settings), updated_at: Date.now() }).where('id', '=', destinationId).execute();
    return bumpVersion(cp, tx);
  });
}
