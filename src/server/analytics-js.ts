import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';

/**
 * Serves analytics.js (the standalone build of @segment/analytics-next) and its
 * lazily loaded chunks at Segment's CDN paths, so Segment's standard snippet works
 * with only its host changed: the library takes its CDN from the script's own URL,
 * then loads `<cdn>/v1/projects/<writeKey>/settings` and
 * `<cdn>/analytics-next/bundles/<chunk>` from this server.
 */
export function registerAnalyticsJs(app: FastifyInstance): void {
  const require = createRequire(import.meta.url);
  const umd = path.join(path.dirname(require.resolve('@segment/analytics-next/package.json')), 'dist', 'umd');
  // Only the files the package ships are served (no path ever comes from the request).
  const files = new Map(
    fs
      .readdirSync(umd)
      .filter((f) => f.endsWith('.js'))
      .map((f) => [f, path.join(umd, f)]),
  );
  const send = (file: string, reply: import('fastify').FastifyReply, acceptsGzip: boolean) => {
    const gz = `${file}.gz`;
    reply.type('application/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').header('access-control-allow-origin', '*');
    if (acceptsGzip && fs.existsSync(gz)) return reply.header('content-encoding', 'gzip').send(fs.readFileSync(gz));
    return reply.send(fs.readFileSync(file));
  };
  const gzipOk = (h: string | string[] | undefined) => String(h ?? '').includes('gzip');

  app.get<{ Params: { writeKey: string; file: string } }>('/analytics.js/v1/:writeKey/:file', async (req, reply) => {
    if (req.params.file !== 'analytics.min.js' && req.params.file !== 'analytics.js') return reply.code(404).send();
    return send(files.get('standalone.js')!, reply, gzipOk(req.headers['accept-encoding']));
  });
  app.get<{ Params: { file: string } }>('/analytics-next/bundles/:file', async (req, reply) => {
    const file = files.get(req.params.file);
    if (!file || req.params.file === 'standalone.js' || req.params.file === 'index.js') return reply.code(404).send();
    return send(file, reply, gzipOk(req.headers['accept-encoding']));
  });
}
