/**
 * Public API read latency with 1,000 sources and 5,000 destinations (5 webhook
 * instances per source, disabled so the router stays idle; an enabled one costs the
 * API nothing more), beside a bare node:http server answering a body of the same
 * size in the same run. Requests are sequential (one connection, keep-alive), so a
 * latency is one request's full round trip.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startServer } from '../lib/switchyard.js';
import { fmt, printTable } from '../lib/table.js';
import type { Scenario, ScenarioReport } from './types.js';

const SOURCES = 1000;
const PER_SOURCE = 5;
const REQUESTS = 400;
const TOKEN = 'bench-owner-token';

function workspace(): string {
  const sources = Array.from({ length: SOURCES }, (_, i) => ({ slug: `source-${i}`, writeKey: `wk_${i}` }));
  const destinations = sources.flatMap((s, i) => Array.from({ length: PER_SOURCE }, (_, k) => ({
    id: `dest-${i}-${k}`, name: `Hook ${k}`, type: 'webhook', enabled: false, sources: [s.slug],
    settings: { urls: [`http://127.0.0.1:9/hook/${i}/${k}`], sharedSecret: `secret-${i}-${k}-xxxxxxxx` },
  })));
  return JSON.stringify({ workspace: { slug: 'acme' }, sources, destinations });
}

async function timeRequests(url: string, headers: Record<string, string>): Promise<{ p50: number; p95: number; p99: number; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < REQUESTS + 20; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { headers });
    const body = await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${Buffer.from(body).toString().slice(0, 200)}`);
    if (i >= 20) times.push(performance.now() - t0); // the first 20 warm up
    bytes = body.byteLength;
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), bytes };
}

async function bareServer(size: number): Promise<{ url: string; close(): Promise<void> }> {
  const body = Buffer.from(JSON.stringify({ data: 'x'.repeat(Math.max(0, size - 12)) }));
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => new Promise((r) => server.close(() => r())) };
}

export const publicApi: Scenario = {
  name: 'public-api',
  description: 'Public API list/get p95 with 1,000 sources and 5,000 destinations (target < 50 ms), beside bare node:http',
  async run(): Promise<ScenarioReport> {
    console.log(`\n[public-api] ${SOURCES} sources, ${SOURCES * PER_SOURCE} destinations; ${REQUESTS} sequential requests per endpoint`);
    const sy = await startServer(workspace(), { SWITCHYARD_ADMIN_TOKEN: TOKEN });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const rows: (string | number)[][] = [];
    const data: Record<string, unknown> = {};
    let worstP95 = 0;
    try {
      const endpoints: [string, string][] = [
        ['GET /sources (page of 200)', '/sources?pagination%5Bcount%5D=200&pagination%5Bcursor%5D=NDAw'],
        ['GET /sources/{id}', '/sources/source-512'],
        ['GET /destinations (page of 200)', '/destinations?pagination%5Bcount%5D=200&pagination%5Bcursor%5D=MjAwMA=='],
        ['GET /destinations/{id}', '/destinations/dest-700-3'],
        ['GET /destination/{id}/filters', '/destination/dest-700-3/filters'],
        ['GET /sources/{id}/connected-destinations', '/sources/source-42/connected-destinations?pagination%5Bcount%5D=10'],
      ];
      for (const [name, path] of endpoints) {
        const sw = await timeRequests(`${sy.url}${path}`, auth);
        const bare = await bareServer(sw.bytes);
        const base = await timeRequests(bare.url, {});
        await bare.close();
        worstP95 = Math.max(worstP95, sw.p95);
        data[name] = { switchyard: sw, bare: base };
        rows.push([name, fmt(sw.bytes), fmt(sw.p50, 2), fmt(sw.p95, 2), fmt(sw.p99, 2), fmt(base.p50, 2), fmt(base.p95, 2)]);
      }
    } finally {
      await sy.shutdown();
    }
    printTable('Public API latency (ms)', ['endpoint', 'bytes', 'p50', 'p95', 'p99', 'bare p50', 'bare p95'], rows);
    return {
      name: 'public-api',
      verdicts: [{ target: 'Public API list/get p95 < 50 ms (1,000 sources, 5,000 destinations)', measured: `worst p95 ${worstP95.toFixed(2)} ms`, met: worstP95 < 50 }],
      data,
    };
  },
};
