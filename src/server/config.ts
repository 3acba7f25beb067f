import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseOutboundOverrides } from '../core/request.js';

/**
 * The one typed configuration module: every key has a default and an environment
 * variable, and CLI flags override the environment. Nothing else in the project
 * reads process.env; components receive only the keys they use.
 */
const int = (def: number) => z.coerce.number().int().nonnegative().default(def);

const schema = z.object({
  PORT: int(8080),
  HOST: z.string().default('0.0.0.0'),
  DATA_DIR: z.string().default('./data'),
  SWITCHYARD_CONFIG: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Comma-separated IPs/CIDRs whose X-Forwarded-For is believed for context.ip. */
  SWITCHYARD_TRUSTED_PROXIES: z.string().default(''),
  SWITCHYARD_DEDUPE_WINDOW_HOURS: z.coerce.number().positive().default(24),
  SWITCHYARD_RETENTION_HOURS: z.coerce.number().nonnegative().default(24),
  SWITCHYARD_MIN_FREE_DISK_MB: int(256),
  SWITCHYARD_SYNC: z.enum(['normal', 'full']).default('normal'),
  SWITCHYARD_MAX_RETRIES: int(9),
  SWITCHYARD_RETRY_WINDOW_HOURS: z.coerce.number().positive().default(4),
  SWITCHYARD_RETRY_BASE_MS: int(1000),
  SWITCHYARD_RETRY_MAX_DELAY_MS: int(600_000),
  SWITCHYARD_DELIVERY_CONCURRENCY: z.coerce.number().int().positive().default(64),
  /** Destinations that batch (Actions performBatch): how long to wait to fill a batch (0: send what is there). */
  SWITCHYARD_BATCH_WAIT_MS: int(0),
  SWITCHYARD_REQUEST_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** Sandboxes (isolates) per function and thread: how many invocations of one function run at once. */
  SWITCHYARD_FUNCTION_SANDBOXES: z.coerce.number().int().min(1).max(64).default(4),
  /**
   * Threads that prepare large request bodies (batches); 0 keeps all ingest work on the HTTP
   * thread. Default: two (one on a one-core machine). On 2 cores two gave 171–192k batch
   * events/s against 136k with one, for ~15 MB more peak RSS under a backlog
   * (docs/benchmarks.md, session 10).
   */
  SWITCHYARD_INGEST_WORKERS: int(Math.min(2, os.availableParallelism())),
  /** Delivery metrics (on by default; `false` records none: for measuring their cost). */
  SWITCHYARD_METRICS: z.enum(['true', 'false']).default('true'),
  /** The source debugger's live sample (on by default; `false` turns it off). */
  SWITCHYARD_DEBUGGER: z.enum(['true', 'false']).default('true'),
  /** SMTP server for email alerts, e.g. smtp://user:pass@mail.example.com:587 (none: email alerts are refused). */
  SWITCHYARD_SMTP_URL: z.string().optional(),
  SWITCHYARD_ALERT_FROM: z.string().default('switchyard@localhost'),
  /** How often alert rules are checked. */
  SWITCHYARD_ALERT_INTERVAL_MS: z.coerce.number().int().positive().default(60_000),
  SWITCHYARD_SECRET_KEY: z.string().optional(),
  /** When set, /api/* requires `Authorization: Bearer <token>` (until the Public API's tokens land). */
  SWITCHYARD_ADMIN_TOKEN: z.string().optional(),
  SWITCHYARD_SECURE_COOKIES: z.enum(['true', 'false']).default('false'),
  /** Comma-separated `origin=origin` rewrites for outbound requests, e.g. `https://api2.amplitude.com=http://127.0.0.1:4567`. */
  SWITCHYARD_OUTBOUND_OVERRIDES: z.string().default(''),
  /** The control-plane store: unset = SQLite in DATA_DIR/control.db; postgres://… = PostgreSQL, shared by every process. */
  SWITCHYARD_STORE: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// or postgresql:// URL (unset: the embedded SQLite store)').optional()
    .or(z.literal('').transform(() => undefined)),
  /** The PostgreSQL schema that holds the control-plane tables (created when missing). */
  SWITCHYARD_STORE_SCHEMA: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'must be a plain SQL identifier').default('switchyard'),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  configFile?: string;
  logLevel: z.infer<typeof schema>['LOG_LEVEL'];
  trustedProxies: string[];
  dedupeWindowMs: number;
  retentionMs: number;
  minFreeDiskBytes: number;
  sync: 'normal' | 'full';
  retry: { maxRetries: number; windowMs: number; baseDelayMs: number; maxDelayMs: number };
  deliveryConcurrency: number;
  functionSandboxes: number;
  batchWaitMs: number;
  requestTimeoutMs: number;
  ingestWorkers: number;
  alerts: { smtpUrl?: string; from: string; intervalMs: number };
  debugger: boolean;
  metrics: boolean;
  secretKey?: string;
  adminToken?: string;
  /** Mark the console's session cookie Secure (serve over https). SWITCHYARD_SECURE_COOKIES=true. */
  secureCookies: boolean;
  /** Origin → origin rewrites applied by every outbound request client. */
  outboundOverrides: ReadonlyMap<string, string>;
  /** SWITCHYARD_STORE=postgres://…: the PostgreSQL control-plane store; absent: SQLite in DATA_DIR. */
  store?: { url: string; schema: string };
}

export interface CliOverrides {
  port?: number;
  host?: string;
  dataDir?: string;
  configFile?: string;
}

const H = 3_600_000;

export function loadConfig(env: NodeJS.ProcessEnv, overrides: CliOverrides = {}): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new Error(`invalid environment variable ${String(first.path[0])}: ${first.message}`);
  }
  const e = parsed.data;
  let outboundOverrides: Map<string, string>;
  try {
    outboundOverrides = parseOutboundOverrides(e.SWITCHYARD_OUTBOUND_OVERRIDES);
  } catch (err) {
    throw new Error(`invalid environment variable SWITCHYARD_OUTBOUND_OVERRIDES: ${(err as Error).message}`);
  }
  return {
    port: overrides.port ?? e.PORT,
    host: overrides.host ?? e.HOST,
    dataDir: path.resolve(overrides.dataDir ?? e.DATA_DIR),
    configFile: overrides.configFile ?? e.SWITCHYARD_CONFIG,
    logLevel: e.LOG_LEVEL,
    trustedProxies: e.SWITCHYARD_TRUSTED_PROXIES.split(',').map((s) => s.trim()).filter(Boolean),
    dedupeWindowMs: e.SWITCHYARD_DEDUPE_WINDOW_HOURS * H,
    retentionMs: e.SWITCHYARD_RETENTION_HOURS * H,
    minFreeDiskBytes: e.SWITCHYARD_MIN_FREE_DISK_MB * 1024 * 1024,
    sync: e.SWITCHYARD_SYNC,
    retry: {
      maxRetries: e.SWITCHYARD_MAX_RETRIES,
      windowMs: e.SWITCHYARD_RETRY_WINDOW_HOURS * H,
      baseDelayMs: e.SWITCHYARD_RETRY_BASE_MS,
      maxDelayMs: e.SWITCHYARD_RETRY_MAX_DELAY_MS,
    },
    deliveryConcurrency: e.SWITCHYARD_DELIVERY_CONCURRENCY,
    functionSandboxes: e.SWITCHYARD_FUNCTION_SANDBOXES,
    batchWaitMs: e.SWITCHYARD_BATCH_WAIT_MS,
    requestTimeoutMs: e.SWITCHYARD_REQUEST_TIMEOUT_MS,
    ingestWorkers: e.SWITCHYARD_INGEST_WORKERS,
    alerts: { smtpUrl: e.SWITCHYARD_SMTP_URL, from: e.SWITCHYARD_ALERT_FROM, intervalMs: e.SWITCHYARD_ALERT_INTERVAL_MS },
    debugger: e.SWITCHYARD_DEBUGGER === 'true',
    metrics: e.SWITCHYARD_METRICS === 'true',
    secretKey: e.SWITCHYARD_SECRET_KEY,
    adminToken: e.SWITCHYARD_ADMIN_TOKEN,
    secureCookies: e.SWITCHYARD_SECURE_COOKIES === 'true',
    outboundOverrides,
    ...(e.SWITCHYARD_STORE ? { store: { url: e.SWITCHYARD_STORE, schema: e.SWITCHYARD_STORE_SCHEMA } } : {}),
  };
}
