/**
 * An open-loop, evenly paced load: `rate` requests/s spread over the second (not
 * autocannon's burst at the start of each second), so end-to-end latency measures
 * the pipeline rather than the burst. When the server falls behind, at most
 * `maxInFlight` requests wait and the rest are counted as `late` (sent as soon as
 * a slot frees).
 */
import http from 'node:http';
import { AUTH_HEADER, type BodyFactory } from './events.js';

export interface PacedResult {
  seconds: number;
  sent: number;
  ok: number;
  failed: number;
  late: number;
  p50: number;
  p99: number;
}

export async function runPaced(url: string, bodies: BodyFactory, rate: number, durationS: number, maxInFlight = 32): Promise<PacedResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: maxInFlight });
  const target = new URL(bodies.path, url);
  const latencies: number[] = [];
  let inFlight = 0;
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let late = 0;
  const total = Math.round(rate * durationS);
  const t0 = performance.now();
  let finishedAt = t0;

  const send = () =>
    new Promise<void>((resolve) => {
      const body = bodies.next();
      const started = performance.now();
      inFlight++;
      sent++;
      const req = http.request(
        target,
        { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: AUTH_HEADER, 'content-length': Buffer.byteLength(body) }, timeout: 30_000 },
        (res) => {
          res.resume();
          res.on('end', () => {
            inFlight--;
            latencies.push(performance.now() - started);
            if (res.statusCode === 200) ok++;
            else failed++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        inFlight--;
        failed++;
        resolve();
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end(body);
    });

  const pending: Promise<void>[] = [];
  while (sent < total && performance.now() - t0 < (durationS + 30) * 1000) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    while (sent < due && inFlight < maxInFlight) pending.push(send());
    if (sent < due) late++;
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  finishedAt = performance.now();
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)]! : NaN);
  return { seconds: (finishedAt - t0) / 1000, sent, ok, failed, late, p50: q(0.5), p99: q(0.99) };
}
