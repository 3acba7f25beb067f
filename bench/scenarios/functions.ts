/**
 * Functions' delivery throughput beside the native webhook, in one run: a
 * destination function whose `onTrack` POSTs each event with `fetch` (with the
 * default 4 sandboxes, and with 1), and an insert function that adds a property
 * in front of the native webhook. Each run ingests BENCH_FN_EVENTS events (20,000)
 * as fast as possible and times how long the sink takes to receive them all.
 */
import { timeUntilDelivered } from '../lib/delivered.js';
import { sleep, startChild } from '../lib/procs.js';
import { startServer, type Server } from '../lib/switchyard.js';
import { fmt, printTable } from '../lib/table.js';
import type { Scenario, ScenarioReport } from './types.js';

const EVENTS = Number(process.env.BENCH_FN_EVENTS ?? 20_000);

const workspace = (hookUrl?: string) => `workspace: { slug: acme }
sources:
  - slug: web-prod
    writeKey: wk_web_prod
destinations:${hookUrl ? `
  - name: Hook
    id: hook
    type: webhook
    sources: [web-prod]
    settings: { urls: [${hookUrl}] }` : ' []'}
`;

const DESTINATION_CODE = `async function onTrack(event, settings) {
  const res = await fetch(settings.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
  if (res.status >= 500) throw new RetryError('HTTP ' + res.status);
}`;
const INSERT_CODE = `async function onTrack(event) {
  event.properties = Object.assign({}, event.properties, { checkedBy: 'insert function' });
  return event;
}`;

/** One API call in open mode (no user or token exists): the data, or an error with the answer. */
async function post(sy: Server, path: string, body: unknown): Promise<Record<string, any>> {
  const res = await fetch(`${sy.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${path} answered ${res.status}: ${text}`);
  return (JSON.parse(text) as { data: Record<string, any> }).data;
}

async function run(label: string, kind: 'native' | 'destination' | 'insert', env: Record<string, string> = {}) {
  const sink = await startChild('sink');
  const hook = `${sink.url}/hook`;
  const sy = await startServer(workspace(kind === 'destination' ? undefined : hook), env);
  try {
    if (kind === 'destination') {
      const fn = (await post(sy, '/functions', {
        code: DESTINATION_CODE, displayName: 'Bench', resourceType: 'DESTINATION',
        settings: [{ name: 'url', label: 'URL', type: 'STRING', required: true }],
      })).function;
      await post(sy, '/destinations', { sourceId: 'web-prod', metadataId: fn.id, settings: { url: hook } });
    } else if (kind === 'insert') {
      const fn = (await post(sy, '/functions', { code: INSERT_CODE, displayName: 'Bench insert', resourceType: 'INSERT_DESTINATION' })).function;
      await post(sy, '/insert-function-instances', { functionId: fn.id, integrationId: 'hook', name: 'bench' });
    }
    await sleep(1500); // the router picks up the new destination or insert function
    return await timeUntilDelivered({ label, serverUrl: sy.url, sinkUrl: sink.url, events: EVENTS, timeoutMs: 300_000 });
  } finally {
    await sy.shutdown();
    await sink.stop();
  }
}

export const functions: Scenario = {
  name: 'functions',
  description: 'delivery events/s: native webhook, destination function (4 and 1 sandboxes), insert function + webhook',
  async run(): Promise<ScenarioReport> {
    console.log(`\n[functions] ${EVENTS.toLocaleString()} events per run, ingested as fast as possible; time until the sink has them all`);
    const results = [
      await run('native webhook', 'native'),
      await run('destination function, 4 sandboxes', 'destination'),
      await run('destination function, 1 sandbox', 'destination', { SWITCHYARD_FUNCTION_SANDBOXES: '1' }),
      await run('insert function + native webhook', 'insert'),
    ];
    const base = results[0]!.eventsPerSec;
    printTable('functions: delivered events/s (same run)', ['destination', 'events/s', 'seconds', 'vs native'],
      results.map((r) => [r.label, fmt(r.eventsPerSec, 0), fmt(r.seconds, 1), `${fmt((r.eventsPerSec / base) * 100, 0)}%`]));
    return { name: 'functions', verdicts: [], data: { results } };
  },
};
