/**
 * Delivery throughput by destination kind, in one run: the native webhook, the
 * native webhook with 10 destination filters on every event, Segment's Webhooks
 * (Actions) per event, and the same batched (performBatch, 100 per request). Each
 * run ingests 50,000 events as fast as possible and times how long the sink takes
 * to receive them all: delivery-bound, ingest finishes first.
 */
import { timeUntilDelivered } from '../lib/delivered.js';
import { startChild } from '../lib/procs.js';
import { startServer } from '../lib/switchyard.js';
import { fmt, printTable } from '../lib/table.js';
import type { Scenario, ScenarioReport } from './types.js';

const EVENTS = Number(process.env.BENCH_DEST_EVENTS ?? 50_000);

function workspace(destination: string): string {
  return `workspace: { slug: acme }
sources:
  - slug: web-prod
    writeKey: wk_web_prod
destinations:
${destination}`;
}

const native = (url: string, filters = '') => `  - name: Hook
    type: webhook
    sources: [web-prod]
    settings: { urls: [${url}] }
${filters}`;

// Ten filters every event is checked against: nine conditions that do not match
// (so nothing is dropped) and one that strips a property from every event.
const TEN_FILTERS = `    filters:
${Array.from({ length: 9 }, (_, i) => `      - if: event = "Never ${i}" or (properties.total > ${1000 + i} and contains(userId, "zz"))
        actions: [{ type: DROP }]`).join('\n')}
      - if: all
        actions: [{ type: DROP_PROPERTIES, fields: { properties: [coupon] } }]
`;

const actions = (url: string, batched: boolean) => `  - name: Hook
    type: actions-webhook
    sources: [web-prod]
    settings:
      subscriptions:
        - partnerAction: send
          subscribe: type = "track"
          mapping:
            url: ${url}
            method: POST
            data: { '@path': '$.' }${batched ? '\n            enable_batching: true\n            batch_size: 100' : ''}
`;

async function run(label: string, destination: (url: string) => string): Promise<{ label: string; eventsPerSec: number; seconds: number }> {
  const sink = await startChild('sink');
  const sy = await startServer(workspace(destination(`${sink.url}/hook`)));
  try {
    return await timeUntilDelivered({ label, serverUrl: sy.url, sinkUrl: sink.url, events: EVENTS, timeoutMs: 180_000 });
  } finally {
    await sy.shutdown();
    await sink.stop();
  }
}

export const destinations: Scenario = {
  name: 'destinations',
  description: 'delivery events/s: native webhook, + 10 filters, Webhooks (Actions) single and batched',
  async run(): Promise<ScenarioReport> {
    console.log(`\n[destinations] ${EVENTS.toLocaleString()} events per run, ingested as fast as possible; time until the sink has them all`);
    const results = [
      await run('native webhook', (u) => native(u)),
      await run('native webhook + 10 filters', (u) => native(u, TEN_FILTERS)),
      await run('Webhooks (Actions), per event', (u) => actions(u, false)),
      await run('Webhooks (Actions), batched 100', (u) => actions(u, true)),
    ];
    const base = results[0]!.eventsPerSec;
    printTable('destinations: delivered events/s (same run)', ['destination', 'events/s', 'seconds', 'vs native'], results.map((r) => [r.label, fmt(r.eventsPerSec, 0), fmt(r.seconds, 1), `${fmt((r.eventsPerSec / base) * 100, 0)}%`]));
    const filterCost = (1 - results[1]!.eventsPerSec / base) * 100;
    console.log(`10 filters per event cost ${fmt(filterCost, 1)}% of native webhook throughput`);
    return { name: 'destinations', verdicts: [], data: { results, filterCostPercent: filterCost } };
  },
};
