import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Encryption at rest for destination credentials: AES-256-GCM with a random
 * 12-byte IV per value, stored as `enc:v1:<base64(iv | tag | ciphertext)>`.
 * The version tag lets a later key rotation or algorithm change coexist with
 * values already written.
 */
const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_FILE = 'secret.key';

export function isEncryptedSecret(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(PREFIX);
}

export function encryptSecret(key: Buffer, plaintext: string): string {
  assertKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
}

/** Throws when the value was not produced with this key or was tampered with (GCM tag check). */
export function decryptSecret(key: Buffer, value: string): string {
  assertKey(key);
  if (!isEncryptedSecret(value)) throw new Error('not an encrypted secret (expected the enc:v1: prefix)');
  const raw = Buffer.from(value.slice(PREFIX.length), 'base64');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('encrypted secret is truncated');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
  decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    // Never echo the value: it is the secret's ciphertext and says nothing useful.
    throw new Error('cannot decrypt secret: wrong secret key or corrupted value');
  }
}

/**
 * The key that encrypts secrets at rest.
 * - `fromEnv` (the config module passes e.g. SWITCHYARD_SECRET_KEY): 64 hex chars
 *   or base64 of 32 bytes. An invalid value throws rather than falling back to
 *   the file: silently using another key would make existing secrets unreadable.
 * - Otherwise `<dataDir>/secret.key` (hex), created with mode 0600 on first start.
 *   Losing this file makes stored secrets unreadable, so it is never rewritten.
 */
export function loadOrCreateSecretKey(dataDir: string, fromEnv?: string): Buffer {
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    const key = parseKey(fromEnv.trim());
    if (!key) throw new Error('the secret key from the environment must be 64 hex characters or base64 of 32 bytes');
    return key;
  }
  const file = path.join(dataDir, KEY_FILE);
  const existing = readKeyFile(file);
  if (existing) return existing;

  fs.mkdirSync(dataDir, { recursive: true });
  // Write a temp file then hard-link it into place: link fails if another
  // process won the race, and nobody ever reads a half-written key.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, randomBytes(KEY_BYTES).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.unlinkSync(tmp);
  }
  const created = readKeyFile(file);
  if (!created) throw new Error(`could not create ${file}`);
  return created;
}

function readKeyFile(file: string): Buffer | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const key = parseKey(text.trim());
  if (!key) throw new Error(`${file} does not hold a valid key (64 hex characters or base64 of 32 bytes)`);
  return key;
}

function parseKey(text: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(text)) {
    const key = Buffer.from(text, 'base64');
    if (key.length === KEY_BYTES) return key;
  }
  return undefined;
}

function assertKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new Error(`secret key must be ${KEY_BYTES} bytes`);
}

/** Settings as stored: the values of `secretKeys` replaced by ciphertext of their JSON. */
export function sealSettings(key: Buffer, settings: Record<string, unknown>, secretKeys: readonly string[]): string {
  const sealed: Record<string, unknown> = { ...settings };
  for (const k of secretKeys) {
    // JSON first so that a secret need not be a string (an object of tokens, say).
    if (sealed[k] !== undefined) sealed[k] = encryptSecret(key, JSON.stringify(sealed[k]));
  }
  return JSON.stringify(sealed);
}

/** The inverse of sealSettings; throws when a secret cannot be decrypted with this key. */
export function openSettings(key: Buffer, stored: string, secretKeys: readonly string[]): Record<string, unknown> {
  const settings = JSON.parse(stored) as Record<string, unknown>;
  for (const k of secretKeys) {
    const v = settings[k];
    if (isEncryptedSecret(v)) settings[k] = JSON.parse(decryptSecret(key, v)) as unknown;
  }
  return settings;
}
