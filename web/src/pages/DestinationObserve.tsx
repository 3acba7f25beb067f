import { useState } from 'react';
import { BarChart, HBars, buckets, type Point } from '../charts';
import { useApi } from '../hooks';
import type { Destination } from '../types';
import { Empty, ErrorBox, Loading, Table, fmtNumber, fmtTime } from '../ui';

const RANGES = {
  '1h': { ms: 3_600_000, granularity: 'minute', step: 60_000 },
  '24h': { ms: 86_400_000, granularity: 'hour', step: 3_600_000 },
  '7d': { ms: 7 * 86_400_000, granularity: 'day', step: 86_400_000 },
  '14d': { ms: 14 * 86_400_000 - 60_000, granularity: 'day', step: 86_400_000 },
} as const;
type RangeKey = keyof typeof RANGES;
const POLL_MS = 5000;

interface OverviewStep {
  step: string; label: string; count: number; percentOfReceived?: number | null; change?: number | null;
  discards?: { reason: string; count: number; change: number | null; howToFix: string }[];
}

const TONE: Record<string, Point['tone']> = {
  successfully_received: 'ok', failed_on_ingest: 'bad', filtered_at_source: 'muted', filtered_at_destination: 'muted',
  failed_delivery: 'bad', pending_retry: 'warn', successful_delivery: 'ok',
};

export default function DestinationObserve({ destination, view }: { destination: Destination; view: 'overview' | 'delivery' }) {
  const [range, setRange] = useState<RangeKey>('1h');
  return (
    <>
      <div className="toolbar" role="group" aria-label="Time range">
        {(Object.keys(RANGES) as RangeKey[]).map((r) => (
          <button key={r} type="button" className="btn small" aria-pressed={range === r} onClick={() => setRange(r)}>Last {r}</button>
        ))}
        <span className="muted small">Refreshes every 5 seconds.</span>
      </div>
      {view === 'overview' ? <Overview d={destination} range={range} /> : <Delivery d={destination} range={range} />}
    </>
  );
}

function Overview({ d, range }: { d: Destination; range: RangeKey }) {
  const ov = useApi<{ data: { steps: OverviewStep[] } }>(`/api/v1/destinations/${encodeURIComponent(d.id)}/overview?range=${range === '14d' ? '14d' : range}`, { pollMs: POLL_MS });
  const [chartStep, setChartStep] = useState('successful_delivery');
  const steps = ov.data?.data.steps ?? [];
  const chosen = steps.find((s) => s.step === chartStep);
  return (
    <div className="grid2">
      <section className="panel">
        <h2>Pipeline</h2>
        <ErrorBox error={ov.error} onRetry={ov.reload} what="Could not load Delivery Overview" />
        {ov.loading && !ov.data && <Loading />}
        {steps.length > 0 && (
          <ol className="funnel" aria-label="Delivery Overview steps">
            {steps.map((s) => (
              <li key={s.step} data-step={s.step}>
                <button type="button" className={`funnel-step ${TONE[s.step] ?? 'ok'}`} aria-pressed={chartStep === s.step} disabled={s.step === 'pending_retry'} onClick={() => setChartStep(s.step)}>
                  <span className="funnel-label">{s.label}</span>
                  <span className="count" data-testid={`step-${s.step}`}>{fmtNumber(s.count)}</span>
                  <span className="muted small">
                    {s.percentOfReceived != null ? `${s.percentOfReceived}% of received` : ''}
                    {s.change != null ? ` · ${s.change > 0 ? '+' : ''}${s.change}% vs previous` : ''}
                  </span>
                </button>
              </li>
            ))}
          </ol>
        )}
        {steps.length > 0 && steps.every((s) => s.count === 0) && <p className="muted">No events in this range yet. Send some from the source's Setup tab or the Event Tester.</p>}
      </section>
      <section className="panel">
        <h2>{chosen?.label ?? 'Over time'}</h2>
        <StepChart d={d} range={range} step={chartStep} />
        {chosen?.discards && chosen.discards.length > 0 && (
          <Table label="Reasons">
            <thead><tr><th>Reason</th><th className="num">Events</th><th>How to fix</th></tr></thead>
            <tbody>{chosen.discards.map((r) => <tr key={r.reason}><td><code>{r.reason}</code></td><td className="num">{fmtNumber(r.count)}</td><td>{r.howToFix}</td></tr>)}</tbody>
          </Table>
        )}
      </section>
    </div>
  );
}

function StepChart({ d, range, step }: { d: Destination; range: RangeKey; step: string }) {
  const r = RANGES[range];
  // Rounded to the minute: the polled URL moves on once a minute, so new events stay inside the window.
  const end = Math.ceil(Date.now() / 60_000) * 60_000 + 60_000;
  const start = end - r.ms;
  const q = new URLSearchParams({ sourceId: d.sourceId, startTime: new Date(start).toISOString(), endTime: new Date(end).toISOString(), granularity: r.granularity });
  if (['filtered_at_destination', 'failed_delivery', 'successful_delivery'].includes(step)) q.set('destinationConfigId', d.id);
  const res = useApi<{ data: { total: number; dataset: { series: { time: string; count: number }[] }[] } }>(`/delivery-overview/${step.replace(/_/g, '-')}?${q}`, { pollMs: POLL_MS });
  if (res.error) return <ErrorBox error={res.error} onRetry={res.reload} what="Could not load the chart" />;
  if (!res.data) return <Loading />;
  const series = res.data.data.dataset.flatMap((x) => x.series);
  const fmt = r.granularity === 'day' ? (t: Date) => t.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) : (t: Date) => t.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  const points = buckets(series, start, end - 1, r.step, fmt).map((p) => ({ ...p, tone: TONE[step] }));
  return <BarChart points={points} label={`${fmtNumber(res.data.data.total)} events, per ${r.granularity}`} />;
}

interface DeliveryData {
  delivered: number; deliveredFirstAttempt: number; deliveredAfterRetry: number; attemptsFailed: number; retrying: number; backlog: number;
  filtered: { reason: string; count: number }[]; discarded: { reason: string; count: number }[]; failed: { reason: string; count: number }[];
  latencyMs: { p50: number | null; p95: number | null; p99: number | null }; latencyTrend: { time: string; p95Ms: number }[];
  failures: { reason: string; summary: string; actions: string; count: number; firstSeen: string; lastSeen: string; sample: { messageId: string; attempt: number; event: string; exchanges: { request: { method: string; url: string; headers: Record<string, string>; body: string }; response?: { status: number; body: string }; error?: string; durationMs: number }[] } }[];
}
interface Metric { metricName: string; total: number; breakdown: { metricName: string; value: number }[] }

function Delivery({ d, range }: { d: Destination; range: RangeKey }) {
  const now = Math.floor(Date.now() / 60_000) * 60_000;
  const q = new URLSearchParams({ sourceId: d.sourceId, startTime: new Date(now - RANGES[range].ms).toISOString() });
  const summary = useApi<{ data: { deliveryMetricsSummary: { metrics: Metric[] } } }>(`/destinations/${encodeURIComponent(d.id)}/delivery-metrics?${q}`, { pollMs: POLL_MS });
  const detail = useApi<{ data: DeliveryData }>(`/api/v1/destinations/${encodeURIComponent(d.id)}/delivery?range=${range}`, { pollMs: POLL_MS });
  const metrics = summary.data?.data.deliveryMetricsSummary.metrics ?? [];
  const x = detail.data?.data;
  const tone: Record<string, Point['tone']> = { successes: 'ok', failures: 'bad', retries: 'warn', filtered: 'muted' };
  return (
    <>
      <ErrorBox error={summary.error ?? detail.error} onRetry={() => { summary.reload(); detail.reload(); }} what="Could not load Event Delivery" />
      {(summary.loading && !summary.data) && <Loading />}
      <div className="stats">
        {metrics.map((m) => (
          <div className={`stat ${tone[m.metricName] ?? ''}`} key={m.metricName} data-metric={m.metricName}>
            <span className="stat-label">{m.metricName}</span>
            <span className="stat-value">{fmtNumber(m.total)}</span>
            {m.breakdown.filter((b) => b.value > 0).slice(0, 3).map((b) => <span key={b.metricName} className="muted small">{b.metricName}: {fmtNumber(b.value)}</span>)}
          </div>
        ))}
        {x && (
          <>
            <div className="stat warn"><span className="stat-label">retrying now</span><span className="stat-value">{fmtNumber(x.retrying)}</span><span className="muted small">backlog {fmtNumber(x.backlog)}</span></div>
            <div className="stat"><span className="stat-label">latency p95</span><span className="stat-value">{x.latencyMs.p95 == null ? '–' : `${x.latencyMs.p95} ms`}</span><span className="muted small">p50 {x.latencyMs.p50 ?? '–'} · p99 {x.latencyMs.p99 ?? '–'} ms</span></div>
          </>
        )}
      </div>
      {x && x.latencyTrend.length > 0 && (
        <section className="panel"><h2>End-to-end latency (p95)</h2>
          <BarChart unit="ms" label="p95 latency per interval (empty: no deliveries)" points={latencyPoints(x.latencyTrend, range, now)} />
        </section>
      )}
      {x && (x.failed.length + x.discarded.length > 0) && (
        <section className="panel"><h2>Discarded and failed, by reason</h2>
          <HBars label="Events by reason" rows={[...x.failed, ...x.discarded].map((r) => ({ label: r.reason, value: r.count, tone: 'bad' }))} />
        </section>
      )}
      <section className="panel">
        <h2>Errors</h2>
        {x && x.failures.length === 0 && <Empty title="No delivery errors"><p>Every attempt so far was accepted by the destination.</p></Empty>}
        {x?.failures.map((f) => (
          <details key={f.reason} className="failure">
            <summary><code>{f.reason}</code> · {fmtNumber(f.count)} events · last {fmtTime(f.lastSeen)}</summary>
            <p>{f.summary}</p>
            <p><strong>What to do:</strong> {f.actions}</p>
            {f.sample.exchanges.map((ex, i) => (
              <div key={i} className="exchange">
                <h3>Request</h3>
                <pre className="code" tabIndex={0}>{`${ex.request.method} ${ex.request.url}\n${Object.entries(ex.request.headers).map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${ex.request.body}`}</pre>
                <h3>Response</h3>
                <pre className="code" tabIndex={0}>{ex.response ? `HTTP ${ex.response.status}\n\n${ex.response.body}` : ex.error ?? 'no response'}</pre>
              </div>
            ))}
          </details>
        ))}
      </section>
    </>
  );
}

/** The trend's buckets (minute up to 1 h, hour up to 24 h, else day, as the API groups them) over the whole range. */
function latencyPoints(trend: { time: string; p95Ms: number }[], range: RangeKey, now: number): Point[] {
  const ms = RANGES[range].ms;
  const step = ms <= 3_600_000 ? 60_000 : ms <= 86_400_000 ? 3_600_000 : 86_400_000;
  const fmt = step === 86_400_000 ? (t: Date) => t.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) : (t: Date) => t.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  return buckets(trend.map((p) => ({ time: p.time, count: Math.round(p.p95Ms) })), now - ms, now, step, fmt).map((p) => ({ ...p, tone: 'warn' as const }));
}
