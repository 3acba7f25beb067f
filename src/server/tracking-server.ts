import http from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import type { Logger } from 'pino';
import { MAX_REQUEST_BYTES } from '../protocol/limits.js';
import { isTrackingCall, trackingCors, type Tracking, type TrackingAnswer } from './ingest.js';

/** What a 500 says, from this server and from fastify's error handler (app.ts) alike: no internals leak. */
export const INTERNAL_ERROR = 'internal error';
const INTERNAL_ERROR_BODY = JSON.stringify({ success: false, error: INTERNAL_ERROR });

/**
 * The HTTP server under fastify, with the Tracking API's POSTs answered before fastify
 * sees them. Every other request (and any `/v1/...` that is not a Tracking API POST:
 * OPTIONS, a wrong method, an unknown path) goes to fastify's handler as before.
 *
 * Why: a single-event POST is the hottest request there is, and fastify's routing,
 * hooks, request and reply objects cost ~30 µs of the ~95 µs the HTTP thread spent
 * on one (a bare fastify route 62–66 µs of CPU per request against node:http's 52–55,
 * with our hook and an async handler 78–87; see docs/benchmarks.md, session 8). Here
 * a request costs what node:http costs plus the Tracking API's own work.
 *
 * What fastify did for these requests is done here the same way: the CORS headers
 * (`trackingCors`, which app.ts's hook sends too); the 500 KB limit (Content-Length
 * first, then bytes as they come; the rest of an oversize body is read and dropped);
 * the client address through the same trusted-proxy rules (@fastify/proxy-addr, what
 * fastify's `trustProxy` uses); `application/json; charset=utf-8` answers; fastify's
 * keep-alive timeout (72 s); and a 500 that says "internal error" if the handler throws.
 */
export function trackingServer(opts: {
  tracking: Tracking;
  trustedProxies: string[];
  logger: Logger;
  /** fastify's request handler (serverFactory's argument). */
  fastify: http.RequestListener;
}): http.Server {
  const { tracking, logger } = opts;
  const trust = opts.trustedProxies.length > 0 ? proxyAddr.compile(opts.trustedProxies) : null;
  const ipOf = (req: http.IncomingMessage): string | undefined => {
    if (!trust) return req.socket.remoteAddress;
    const all = proxyAddr.all(req, trust);
    return all[all.length - 1];
  };
  const answer = (req: http.IncomingMessage, res: http.ServerResponse, a: TrackingAnswer) => {
    if (res.headersSent) return;
    res.writeHead(a.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(a.body),
      ...trackingCors(req.headers.origin),
    });
    res.end(a.body);
  };
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (req.method !== 'POST' || !url.startsWith('/v1/')) return opts.fastify(req, res);
    const q = url.indexOf('?');
    const call = url.slice(4, q < 0 ? url.length : q);
    if (!isTrackingCall(call)) return opts.fastify(req, res);

    // Over the limit: answered at once, and the rest of the body is read and dropped.
    // Closing the connection instead would race the client, still sending: its socket
    // could be reset before it reads the answer.
    const refuse = () => {
      answer(req, res, tracking.tooLarge(req.headers));
      req.resume();
    };
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > MAX_REQUEST_BYTES) return refuse();
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > MAX_REQUEST_BYTES) {
        over = true;
        chunks.length = 0;
        refuse();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (over) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      tracking.handle({ call, headers: req.headers, body, ip: ipOf(req) }).then(
        (a) => answer(req, res, a),
        (err: unknown) => {
          logger.error({ err, call }, 'a Tracking API request failed in its handler; answered 500');
          answer(req, res, { status: 500, body: INTERNAL_ERROR_BODY });
        },
      );
    });
    // A client that goes away mid-body: nothing was accepted, nothing to answer.
    req.on('error', () => {});
  });
  // fastify's defaults for the servers it makes itself (lib/server.js).
  server.keepAliveTimeout = 72_000;
  server.requestTimeout = 0;
  return server;
}
