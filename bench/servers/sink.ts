/**
 * A minimal webhook sink in its own process: POST /hook reads the body and answers
 * with the configured status (200, or 503 to stand for a destination that is down),
 * and counts. GET /stats returns {requests, events, bytes, firstAt, lastAt}. Prints
 * {"port":N} once listening; exits on SIGTERM or after `maxSeconds`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const status = Number(process.argv[2] ?? 200);
const maxSeconds = Number(process.argv[3] ?? 900);
let requests = 0;
/** Events received: a JSON array body (a batch) counts its elements. */
let events = 0;
let bytes = 0;
let firstAt = 0;
let lastAt = 0;

const server = http.createServer((req, res) => {
  if (req.method === 'GET') {
    const body = JSON.stringify({ requests, events, bytes, firstAt, lastAt });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => {
    bytes += c.length;
    chunks.push(c);
  });
  req.on('end', () => {
    requests++;
    const first = chunks[0]?.[0];
    if (first === 0x5b /* [ */) {
      try {
        events += (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown[]).length;
      } catch {
        events++;
      }
    } else events++;
    lastAt = Date.now();
    if (firstAt === 0) firstAt = lastAt;
    res.writeHead(status, { 'content-length': 0 });
    res.end();
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
setTimeout(() => process.exit(0), maxSeconds * 1000).unref();
