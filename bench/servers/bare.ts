/**
 * The baseline: a bare node:http server that reads the whole body and answers 200
 * with the same small JSON Switchyard sends. Runs in its own process, like the
 * real server. Prints {"port":N} once listening; exits on SIGTERM or after
 * `maxSeconds` (a safety bound).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const maxSeconds = Number(process.argv[2] ?? 600);
const OK = '{"success":true}';
let requests = 0;
let bytes = 0;

const server = http.createServer((req, res) => {
  req.on('data', (c: Buffer) => (bytes += c.length));
  req.on('end', () => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': OK.length });
    res.end(OK);
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
});
const stop = () => {
  process.stderr.write(JSON.stringify({ requests, bytes }) + '\n');
  process.exit(0);
};
process.on('SIGTERM', stop);
setTimeout(stop, maxSeconds * 1000).unref();
