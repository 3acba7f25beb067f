import { registerSourceScope } from './source-scope.js';
import type http from 'node:http';
import type Database from 'better-sqlite3';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { EventLog, LaneBacklog } from '../log/types.js';
import type { StatsRecorder } from '../observability/stats.js';
import type { Source } from '../store/types.js';
import type { ControlPlaneStore } from '../store/types.js';
import { registerApi } from './api.js';
import { registerIngest, tracking, trackingCors } from './ingest.js';
import { INTERNAL_ERROR, trackingServer } from './tracking-server.js';
import { registerAlertsApi } from './alerts-api.js';
import type { IngestPool } from './ingest-pool.js';
import { registerDebugger } from './debugger-api.js';
import { registerFailureLogApi } from './failure-log-api.js';
import type { SourceDebugger } from '../observability/debugger.js';
import { registerEventTester } from './event-tester.js';
import { registerSettings } from './settings-api.js';
import { registerWarehouseApi, type WarehouseApiDeps } from './warehouse-api.js';
import { registerLakeApi } from './lake-api.js';
import { destinationTypes } from '../destinations/registry.js';
import type { RequestFn } from '../core/request.js';
import { registerConsole } from './console.js';
import { registerPublicApi, type PublicApiDeps } from './public-api/index.js';
import { registerSourceFunctions } from './source-functions.js';
import { FunctionErrorLog } from './function-errors.js';
import { actorName } from './public-api/access.js';
import { registerProfileApi, type ProfileApiDeps } from './profile-api.js';
import { registerRetlApi } from './retl-api.js';
import type { RetlHost } from './retl-host.js';

export interface AppDeps {
  logger: Logger;
  trustedProxies: string[];
  log: EventLog;
  laneBacklog: (laneId: string) => LaneBacklog | null;
  store: ControlPlaneStore & { sourceByWriteKey(key: string): Source | undefined };
  stats: StatsRecorder;
  statsDb: Database.Database;
  canAccept: () => boolean;
  isReady: () => { ok: boolean; reason?: string };
  adminToken?: string;
  ingestPool?: IngestPool;
  /** Whether email alerts can be sent (an SMTP server is configured). */
  emailConfigured: boolean;
  debugger?: SourceDebugger;
  failureLogDir: string;
  /** Signs failure-log download URLs. */
  signingKey: Buffer;
  /** The Event Tester's and source functions' HTTP client (the router thread has its own). */
  testerRequest: RequestFn;
  warehouses?: WarehouseApiDeps;
  /** The Public API, sign-in and access control (every non-public route is guarded). */
  publicApi: PublicApiDeps & { secureCookies: boolean };
  /**
   * Whether this process serves the Tracking API: its POSTs are then answered by
   * tracking-server.ts before fastify. Default true.
   */
  servesTracking?: boolean;
  /** Unify's Profile API (GET /v1/spaces/...); absent where Unify cannot run (the NATS log). */
  unify?: ProfileApiDeps;
  /** Reverse ETL syncs (/api/v1/reverse-etl/...); absent where this process does not run them. */
  retl?: RetlHost;
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const track = tracking({
    log: deps.log,
    stats: deps.stats,
    logger: deps.logger,
    sourceByWriteKey: (key) => deps.store.sourceByWriteKey(key),
    canAccept: deps.canAccept,
    pool: deps.ingestPool,
    debugger: deps.debugger,
  });
  const app = Fastify({
    ...(deps.servesTracking === false ? {} : {
      serverFactory: (handler: http.RequestListener) => trackingServer({ tracking: track, trustedProxies: deps.trustedProxies, logger: deps.logger, fastify: handler }),
    }),
    loggerInstance: deps.logger,
    // No per-request log lines: at tens of thousands of requests a second they would cost more than ingest.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: deps.trustedProxies.length > 0 ? deps.trustedProxies : false,
    bodyLimit: 1024 * 1024,
  }) as unknown as FastifyInstance; // pino's Logger type vs FastifyBaseLogger: same object, narrower generic
  // Every body arrives as raw bytes: the Tracking API decodes gzip and parses JSON
  // itself (analytics.js sends JSON as text/plain to avoid CORS preflights).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  // First: the access hook must run before any other route's hooks.
  const workspaceJson = registerPublicApi(app, { ...deps.publicApi, adminToken: deps.adminToken });
  // Then: the operational routes are scoped to the sources a role covers.
  registerSourceScope(app, { store: deps.store, warehouses: deps.warehouses?.warehouses, lakes: deps.warehouses?.lakes?.lakes });

  app.addHook('onRequest', (req, reply, done) => {
    if (req.url.startsWith('/v1/')) reply.headers(trackingCors(req.headers.origin));
    done();
  });
  app.options('/v1/*', async (_req, reply) =>
    reply
      .code(204)
      .header('access-control-allow-methods', 'GET, POST, OPTIONS')
      .header('access-control-allow-headers', 'Content-Type, Authorization, Content-Encoding')
      .header('access-control-max-age', '86400')
      .send(),
  );

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(400).send({ success: false, error: 'the request exceeds the 500KB limit', field: 'body', limit: '500KB per request' });
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) deps.logger.error({ err }, 'request failed');
    return reply.code(status).send({ success: false, error: status === 500 ? INTERNAL_ERROR : err.message });
  });

  // Wrong method on a Tracking API path: say which method works.
  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: '/v1/:call',
    handler: async (req, reply) =>
      reply.code(405).header('allow', 'POST').send({ success: false, error: `${req.method} is not allowed here; the Tracking API takes POST` }),
  });

  registerIngest(app, track);
  if (deps.servesTracking !== false) {
    registerSourceFunctions(app, { store: deps.store, tracking: track, request: deps.testerRequest, logger: deps.logger, errors: new FunctionErrorLog(deps.statsDb) });
  }
  if (deps.debugger) registerDebugger(app, { store: deps.store, debugger: deps.debugger });
  registerFailureLogApi(app, { store: deps.store, statsDb: deps.statsDb, dir: deps.failureLogDir, signingKey: deps.signingKey });
  registerSettings(app, { store: deps.store, types: destinationTypes });
  registerEventTester(app, { store: deps.store, types: destinationTypes, request: deps.testerRequest });
  registerAlertsApi(app, {
    store: deps.store,
    emailConfigured: deps.emailConfigured,
    actor: (req) => (req.principal ? actorName(req.principal) : 'unknown'),
  });
  registerApi(app, { store: deps.store, statsDb: deps.statsDb, laneBacklog: deps.laneBacklog });
  if (deps.warehouses) registerWarehouseApi(app, deps.warehouses);
  if (deps.warehouses?.lakes) registerLakeApi(app, deps.warehouses.lakes);
  if (deps.unify) registerProfileApi(app, deps.unify);
  if (deps.retl) registerRetlApi(app, deps.retl);

  registerConsole(app, { workspaceJson });

  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_req, reply) => {
    const r = deps.isReady();
    return reply.code(r.ok ? 200 : 503).send(r.ok ? { status: 'ready' } : { status: 'not ready', reason: r.reason });
  });
  return app;
}
