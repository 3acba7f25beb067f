import fs from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadConfig } from '../server/config.js';
import { dataPaths, parseRoles, startServer } from '../server/main.js';
import { parseLogSetting } from '../log/nats/settings.js';
import type { NatsLogStatus } from '../log/nats/log.js';
import { connectNatsLog } from '../log/nats/connect.js';
import { SqliteEventLog } from '../log/sqlite/log.js';
import { openDatabase } from '../log/sqlite/db.js';
import { STALE_MS, SqliteProcessRegistry, type ProcessInfo } from '../log/processes.js';
import { loadOrCreateSecretKey } from '../store/secrets.js';
import { ControlPlaneEmptyError, openControlPlane } from '../store/control-plane.js';
import { ROLE_IDS } from '../server/public-api/access.js';

const USAGE = `Usage: switchyard <command> [options]

Commands:
  start     Run the server (Tracking API, router, API)
  status    Show the running processes, lanes, backlog per destination and consumer lag
  tokens create --role <role> [--description <text>] [--data-dir <dir>]
            Make a Public API token without a browser (prints it once), e.g. the
            first owner token for automation: --role workspace-owner (or owner)

Options for start:
  --port <n>        HTTP port (default 8080, or PORT)
  --host <addr>     Address to bind (default 0.0.0.0, or HOST)
  --data-dir <dir>  Where all state lives (default ./data, or DATA_DIR)
  --config <file>   Workspace file, YAML or JSON (or SWITCHYARD_CONFIG)
  --role <roles>    ingest, router, loader, scheduler, api or all (default all);
                    comma-separated for several, e.g. --role api,loader,scheduler.
                    Roles other than all need SWITCHYARD_LOG=nats://host:4222.

Options for status:
  --data-dir <dir>  The shared DATA_DIR (default ./data, or DATA_DIR)
  --json            Machine-readable output

Environment: SWITCHYARD_LOG=nats://host:4222[,nats://…][?replicas=3&…] selects the
NATS JetStream event log (default: the embedded SQLite log in DATA_DIR).
`;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'start') return start(rest);
  if (command === 'status') return status(rest);
  if (command === 'tokens') return tokens(rest);
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return;
  }
  throw new Error(`unknown command "${command}"\n\n${USAGE}`);
}

async function start(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      role: { type: 'string' },
    },
    strict: true,
  });
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new Error(`--port must be a port number, got "${values.port}"`);
  const config = loadConfig(process.env, { port, host: values.host, dataDir: values['data-dir'], configFile: values.config });
  const roles = parseRoles(values.role);
  const nats = parseLogSetting(process.env.SWITCHYARD_LOG);
  const logger = pino({ level: config.logLevel });
  const server = await startServer(config, logger, { roles, nats });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests and deliveries');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export interface StatusReport {
  log: { kind: 'sqlite'; path: string } | { kind: 'nats'; servers: string[]; stream: string; messages: number; bytes: number; lastSeq: number; replicas: number };
  processes: (ProcessInfo & { stale: boolean; ageMs: number })[];
  destinations: { id: string; name: string; type: string; enabled: boolean; lane: boolean; pending: number; retrying: number }[];
  /** Lanes as the log sees them; with NATS one row per (lane, source) consumer. */
  consumers: { lane: string; source: string | null; pending: number; ackPending: number; redelivered: number | null; lastActive: number | null }[];
  /** Work that runs in one process (NATS KV leases): who holds what. Empty with the embedded log (one process). */
  leases: { name: string; holder: string; renewedAgoMs: number }[];
}

async function tokens(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'create') throw new Error(`usage: switchyard tokens create --role <role> [--description <text>] [--data-dir <dir>]`);
  const { values } = parseArgs({ args: rest, options: { role: { type: 'string' }, description: { type: 'string' }, 'data-dir': { type: 'string' } }, strict: true });
  const role = values.role === 'owner' ? 'workspace-owner' : values.role;
  if (!role || !ROLE_IDS.includes(role)) throw new Error(`--role must be one of owner, ${ROLE_IDS.join(', ')}`);
  const config = loadConfig(process.env, { dataDir: values['data-dir'] });
  fs.mkdirSync(config.dataDir, { recursive: true });
  const controlDb = config.store ? null : openDatabase(dataPaths(config.dataDir).control, 'normal', 1);
  const store = await openControlPlane(controlDb ? { sqlite: controlDb } : { postgres: config.store! },
    { secretKey: loadOrCreateSecretKey(config.dataDir, config.secretKey), pollMs: 0 });
  try {
    let workspaceId = 'default';
    try {
      workspaceId = store.snapshot().workspace.id;
    } catch (err) {
      if (!(err instanceof ControlPlaneEmptyError)) throw err;
    }
    const iam = store.iam;
    const description = values.description ?? `created by the CLI (${role})`;
    const { token, record } = await iam.createToken(description, [{ roleId: role, resources: [{ type: 'WORKSPACE', id: workspaceId }] }], 'cli');
    await iam.audit({ type: 'Access Token Created', actor: 'cli', resourceId: record.id, resourceType: 'token', resourceName: description });
    process.stdout.write(`${token}\n`);
    process.stderr.write(`token ${record.id} (${role}); shown once: store it now. Revoke with DELETE /tokens/${record.id}.\n`);
  } finally {
    await store.close();
    controlDb?.close();
  }
}

async function status(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { 'data-dir': { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  const config = loadConfig(process.env, { dataDir: values['data-dir'] });
  const natsSettings = parseLogSetting(process.env.SWITCHYARD_LOG);
  const paths = dataPaths(config.dataDir);
  if (!config.store && !fs.existsSync(paths.control)) throw new Error(`no control plane in ${config.dataDir} (control.db): is DATA_DIR the one the processes share?`);
  const controlDb = config.store ? null : openDatabase(paths.control, 'normal', 1);
  const store = await openControlPlane(controlDb ? { sqlite: controlDb } : { postgres: config.store! },
    { secretKey: loadOrCreateSecretKey(config.dataDir, config.secretKey), pollMs: 0 });
  let snapshot;
  try {
    snapshot = store.snapshot();
  } catch (err) {
    if (!(err instanceof ControlPlaneEmptyError)) throw err;
  }
  const now = Date.now();
  const report: StatusReport = { log: { kind: 'sqlite', path: paths.log }, processes: [], destinations: [], consumers: [], leases: [] };
  const backlog = new Map<string, { pending: number; retrying: number }>();
  try {
    if (natsSettings) {
      if (!snapshot) throw new Error('the control plane has no workspace yet: nothing to show');
      const log = await connectNatsLog({ ...natsSettings, workspaceId: snapshot.workspace.id, dedupeWindowMs: config.dedupeWindowMs, retentionMs: config.retentionMs, name: 'switchyard-status' });
      try {
        const s: NatsLogStatus = await log.status();
        report.log = { kind: 'nats', servers: natsSettings.servers, stream: s.stream, messages: s.messages, bytes: s.bytes, lastSeq: s.lastSeq, replicas: s.replicas };
        for (const c of s.consumers) {
          report.consumers.push({ lane: c.laneId, source: c.sourceId, pending: c.pending, ackPending: c.ackPending, redelivered: c.redelivered, lastActive: c.lastActive });
          const b = backlog.get(c.laneId) ?? { pending: 0, retrying: 0 };
          b.pending += c.pending;
          b.retrying += c.ackPending;
          backlog.set(c.laneId, b);
        }
        const registry = await log.processes();
        report.processes = (await registry.list()).map((p) => ({ ...p, ageMs: now - p.beatAt, stale: now - p.beatAt > STALE_MS }));
        report.leases = (await (await log.leases()).list()).map((l) => ({ name: l.name, holder: l.owner, renewedAgoMs: Math.max(0, now - l.renewedAt) }));
      } finally {
        await log.close();
      }
    } else {
      if (fs.existsSync(paths.processes)) {
        const registry = new SqliteProcessRegistry(paths.processes);
        report.processes = (await registry.list()).map((p) => ({ ...p, ageMs: now - p.beatAt, stale: now - p.beatAt > STALE_MS }));
        await registry.close();
      }
      if (fs.existsSync(paths.log)) {
        const log = new SqliteEventLog({ path: paths.log, dedupeWindowMs: config.dedupeWindowMs, retentionMs: config.retentionMs });
        try {
          for (const id of log.laneIds()) {
            const b = log.laneBacklog(id) ?? { pending: 0, retrying: 0 };
            backlog.set(id, b);
            report.consumers.push({ lane: id, source: null, pending: b.pending, ackPending: b.retrying, redelivered: null, lastActive: null });
          }
        } finally {
          await log.close();
        }
      }
    }
  } finally {
    await store.close();
    controlDb?.close();
  }
  for (const d of snapshot?.destinations ?? []) {
    const b = backlog.get(d.id);
    report.destinations.push({ id: d.id, name: d.name, type: d.type, enabled: d.enabled, lane: b !== undefined, pending: b?.pending ?? 0, retrying: b?.retrying ?? 0 });
  }
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report, now));
}

function formatStatus(r: StatusReport, now: number): string {
  const out: string[] = [];
  const ago = (ms: number) => (ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`);
  out.push(
    r.log.kind === 'nats'
      ? `Log: NATS JetStream ${r.log.servers.join(',')} stream ${r.log.stream} (R${r.log.replicas}): ${r.log.messages} messages held, ${r.log.bytes} bytes, last seq ${r.log.lastSeq}`
      : `Log: embedded SQLite ${r.log.path}`,
    '',
    `Processes (${r.processes.filter((p) => !p.stale).length} live, ${r.processes.filter((p) => p.stale).length} stale)`,
  );
  out.push(...table(['ID', 'ROLES', 'STATE', 'URL', 'PID', 'UP', 'LAST BEAT'], r.processes.map((p) => [
    p.id, p.roles.join(','), p.stale ? 'stale' : p.state, p.url ?? '-', String(p.pid), ago(now - p.startedAt), `${ago(p.ageMs)} ago`,
  ])));
  out.push('', 'Destinations (backlog)');
  out.push(...table(['ID', 'NAME', 'TYPE', 'ENABLED', 'LANE', 'PENDING', 'RETRYING/IN FLIGHT'], r.destinations.map((d) => [
    d.id, d.name, d.type, d.enabled ? 'yes' : 'no', d.lane ? 'yes' : 'no', String(d.pending), String(d.retrying),
  ])));
  out.push('', r.log.kind === 'nats' ? 'Consumers (lag = messages not yet delivered to the lane)' : 'Lanes (lag = events past the cursor)');
  out.push(...table(['LANE', 'SOURCE', 'LAG', 'ACK PENDING', 'REDELIVERED', 'LAST ACTIVE'], r.consumers.map((c) => [
    c.lane, c.source ?? '*', String(c.pending), String(c.ackPending), c.redelivered === null ? '-' : String(c.redelivered), c.lastActive === null ? '-' : `${ago(now - c.lastActive)} ago`,
  ])));
  if (r.log.kind === 'nats') {
    out.push('', 'Leases (work that runs in one process)');
    out.push(...table(['LEASE', 'HOLDER', 'RENEWED'], r.leases.map((l) => [l.name, l.holder, `${ago(l.renewedAgoMs)} ago`])));
  }
  return `${out.join('\n')}\n`;
}

function table(head: string[], rows: string[][]): string[] {
  if (rows.length === 0) return ['  (none)'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => `  ${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd());
}
