import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The web console (`web/`, built by `npm run build:web` into `dist/web`).
 *
 * `GET /` is shared with the Public API's getWorkspace: a browser (Accept
 * includes text/html) gets the console's index.html, anything else the
 * workspace JSON from `workspaceJson`. The console routes with the URL's hash,
 * so the server serves only `/` and `/assets/*`. Asset names carry a content
 * hash, so they are cached for a year as immutable; index.html is never cached,
 * so a new build reaches browsers on the next load.
 */
export interface ConsoleOptions {
  /** The built console: index.html and assets/ (default dist/web beside the compiled server). */
  dir?: string;
  /** Answers `GET /` for non-HTML clients (the Public API's getWorkspace). */
  workspaceJson: (req: FastifyRequest, reply: FastifyReply) => unknown;
}

/** dist/src/server/console.js → dist/web */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

const YEAR_MS = 365 * 86_400_000;

export function registerConsole(app: FastifyInstance, opts: ConsoleOptions): void {
  const dir = opts.dir ?? DEFAULT_CONSOLE_DIR;
  const assets = path.join(dir, 'assets');
  const missing = (reply: FastifyReply) =>
    reply
      .code(503)
      .type('text/plain; charset=utf-8')
      .send(`The web console is not built (${dir} is missing). Run \`npm run build\` (or \`npm run build:web\`) and reload.\n`);

  if (fs.existsSync(assets)) {
    void app.register(fastifyStatic, {
      root: assets,
      prefix: '/assets/',
      decorateReply: false,
      // Vite names every asset by its content hash: a name never changes meaning.
      maxAge: YEAR_MS,
      immutable: true,
      index: false,
      // The build writes .br and .gz beside each asset (web/vite.config.ts): served as is, never compressed per request.
      preCompressed: true,
    });
  } else {
    app.get('/assets/*', async (_req, reply) => missing(reply));
  }

  app.get('/', async (req, reply) => {
    if (!(req.headers.accept ?? '').includes('text/html')) return opts.workspaceJson(req, reply);
    let html: Buffer;
    try {
      // Read per request (a few hundred bytes): a rebuild is picked up without a restart.
      html = await fs.promises.readFile(path.join(dir, 'index.html'));
    } catch {
      return missing(reply);
    }
    return reply
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'same-origin')
      .type('text/html; charset=utf-8')
      .send(html);
  });
}

/** The default for `workspaceJson` until the Public API answers getWorkspace. */
export function workspaceNotAvailable(_req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(404).send({ errors: [{ type: 'not-found', message: 'the Public API workspace endpoint is not available in this build', status: 404 }] });
}
