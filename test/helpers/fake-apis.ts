/**
 * Fake remote APIs on loopback for Actions destinations, which call fixed public
 * hosts (api2.amplitude.com, api.mixpanel.com, ...). Switchyard's RequestFn is
 * wrapped so that every request to a host other than 127.0.0.1 is sent to one
 * local server instead, the original host in `x-fake-host`; the server records the
 * request as the destination made it and answers like the real API (or as a test
 * says). Nothing reaches the internet: there is no path that keeps the real host.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequestClient, type RequestFn } from '../../src/core/request.js';

export interface FakeRequest {
  method: string;
  /** The URL the destination asked for, e.g. `https://api2.amplitude.com/2/httpapi`. */
  url: string;
  host: string;
  path: string;
  /** Lower-case names, as received (minus the fake's routing header). */
  headers: Record<string, string>;
  body: string;
}

export interface FakeAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Answer this late (to test timeouts). */
  delayMs?: number;
}

export type FakeResponder = (req: FakeRequest) => FakeAnswer | undefined;

/** How the real APIs answer a good request (status and body shape). */
const DEFAULTS: Record<string, FakeAnswer> = {
  'api2.amplitude.com': { status: 200, headers: { 'content-type': 'application/json' }, body: '{"code":200,"events_ingested":1,"payload_size_bytes":100,"server_upload_time":1}' },
  'api.amplitude.com': { status: 200, headers: { 'content-type': 'text/plain' }, body: 'success' },
  'hooks.slack.com': { status: 200, headers: { 'content-type': 'text/html' }, body: 'ok' },
  'api.mixpanel.com': { status: 200, headers: { 'content-type': 'application/json' }, body: '{"code":200,"num_records_imported":1,"status":"OK"}' },
  'www.google-analytics.com': { status: 204 },
  'api.hubapi.com': { status: 204 },
};
const BRAZE: FakeAnswer = { status: 201, headers: { 'content-type': 'application/json' }, body: '{"message":"success","attributes_processed":1}' };

export interface FakeApis {
  /** Requests received, in order. */
  received: FakeRequest[];
  /** Switchyard's real request client (undici), rewritten to this server. */
  request: RequestFn;
  /** Answer the next requests with `fn` (return undefined for the default answer). */
  respond(fn: FakeResponder): void;
  reset(): void;
  /**
   * For a real Switchyard process: one loopback listener per host (same recording
   * and answers), returned as a SWITCHYARD_OUTBOUND_OVERRIDES value mapping
   * `https://<host>` to it.
   */
  outboundOverrides(hosts: readonly string[]): Promise<string>;
  close(): Promise<void>;
}

export async function startFakeApis(opts: { timeoutMs?: number } = {}): Promise<FakeApis> {
  const received: FakeRequest[] = [];
  let responder: FakeResponder = () => undefined;
  const handler = (fixedHost?: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const host = fixedHost ?? String(req.headers['x-fake-host'] ?? '');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (k !== 'x-fake-host' && v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const r: FakeRequest = { method: req.method ?? '', url: `https://${host}${req.url ?? ''}`, host, path: req.url ?? '', headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(r);
      const answer = responder(r) ?? DEFAULTS[host] ?? (host.endsWith('.braze.com') ? BRAZE : { status: 200, body: 'ok' });
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body ?? '');
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs).unref();
      else send();
    });
  };
  const server = http.createServer(handler());
  const perHost: http.Server[] = [];
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = createRequestClient({ timeoutMs: opts.timeoutMs ?? 5000, connectionsPerOrigin: 4 });
  const request: RequestFn = (req) => {
    const u = new URL(req.url);
    if (u.hostname === '127.0.0.1') return client.request(req); // already local (a test's own sink)
    return client.request({ ...req, url: `${base}${u.pathname}${u.search}`, headers: { ...req.headers, 'x-fake-host': u.host } });
  };
  return {
    received,
    request,
    respond(fn) {
      responder = fn;
    },
    reset() {
      received.length = 0;
      responder = () => undefined;
    },
    async outboundOverrides(hosts) {
      const entries: string[] = [];
      for (const host of hosts) {
        const s = http.createServer(handler(host));
        perHost.push(s);
        await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
        entries.push(`https://${host}=http://127.0.0.1:${(s.address() as AddressInfo).port}`);
      }
      return entries.join(',');
    },
    async close() {
      for (const s of perHost) {
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
      server.closeAllConnections();
      await client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
