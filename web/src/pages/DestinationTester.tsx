import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { useAction } from '../hooks';
import { canWrite, useSession } from '../session';
import type { Destination } from '../types';
import { ErrorBox, Field } from '../ui';

const SAMPLES: Record<string, object> = {
  track: { type: 'track', event: 'Order Completed', userId: 'test-user-1', properties: { total: 42, currency: 'USD' } },
  identify: { type: 'identify', userId: 'test-user-1', traits: { email: 'ada@example.com', name: 'Ada Lovelace' } },
  page: { type: 'page', name: 'Checkout', anonymousId: 'anon-1', properties: { url: 'https://shop.example/checkout' } },
  group: { type: 'group', userId: 'test-user-1', groupId: 'acme', traits: { plan: 'enterprise' } },
};

interface Exchange { request: { method: string; url: string; headers: Record<string, string>; body: string }; response?: { status: number; headers: Record<string, string>; body: string }; error?: string; durationMs: number }
/** `logs`: a destination function's console output. */
interface TestResult { outcome: string; reason?: string; event: unknown; exchanges: Exchange[]; logs?: string[] }

/** The Event Tester: one event, one attempt, no filters, not counted; shows the request and the response. */
export default function DestinationTester({ destination: d }: { destination: Destination }) {
  const { user, open } = useSession();
  const [kind, setKind] = useState('track');
  const [text, setText] = useState(JSON.stringify(SAMPLES.track, null, 2));
  const [result, setResult] = useState<TestResult | null>(null);
  const { busy, error, run } = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    let event: unknown;
    try {
      event = JSON.parse(text);
    } catch (err) {
      await run(() => Promise.reject(new Error(`The event is not valid JSON (${(err as Error).message}). Fix it and send again.`)));
      return;
    }
    const r = await run(() => api.post<{ data: TestResult }>(`/api/v1/destinations/${encodeURIComponent(d.id)}/test`, event));
    setResult(r ? r.data : null);
  };
  const f = error?.fields ?? {};
  return (
    <div className="grid2">
      <form className="panel" onSubmit={(e) => void submit(e)}>
        <h2>Send a test event</h2>
        <p className="muted small">Sent once to this destination now: filters and retries do not apply and it is not counted in delivery figures.</p>
        <div className="toolbar" role="group" aria-label="Sample event">
          {Object.keys(SAMPLES).map((k) => <button type="button" key={k} className="btn small" aria-pressed={kind === k} onClick={() => { setKind(k); setText(JSON.stringify(SAMPLES[k], null, 2)); }}>{k}</button>)}
        </div>
        <Field label="Event (JSON)" error={Object.entries(f)[0] ? `${Object.keys(f)[0]}: ${Object.values(f)[0]}` : undefined}>
          {(p) => <textarea {...p} rows={14} className="mono" value={text} onChange={(e) => setText(e.target.value)} />}
        </Field>
        <ErrorBox error={error && Object.keys(f).length === 0 ? error : undefined} what="The test could not run" />
        <button type="submit" className="btn primary" disabled={busy || !canWrite(user, open)}>{busy ? 'Sending…' : 'Send test event'}</button>
        {!canWrite(user, open) && <p className="muted small">Your role is read-only: ask a Source Admin to run the tester.</p>}
      </form>
      <section className="panel" aria-live="polite">
        <h2>Result</h2>
        {!result && <p className="muted">The request Switchyard makes and the destination's response appear here.</p>}
        {result && (
          <>
            <p><span className={`badge ${result.outcome === 'delivered' ? 'ok' : result.outcome === 'retry' ? 'warn' : 'bad'}`} data-testid="tester-outcome">{result.outcome}</span> {result.reason && <code>{result.reason}</code>}</p>
            {result.logs && result.logs.length > 0 && (
              <>
                <h3>Console output</h3>
                <pre className="code" tabIndex={0} data-testid="tester-logs">{result.logs.join('\n')}</pre>
              </>
            )}
            {result.exchanges.length === 0 && <p className="muted">No HTTP request was made (nothing to send for this event).</p>}
            {result.exchanges.map((x, i) => (
              <div key={i} className="exchange">
                <h3>Request · {x.durationMs} ms</h3>
                <pre className="code" tabIndex={0}>{`${x.request.method} ${x.request.url}\n${Object.entries(x.request.headers).map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${pretty(x.request.body)}`}</pre>
                <h3>Response</h3>
                <pre className="code" tabIndex={0}>{x.response ? `HTTP ${x.response.status}\n${Object.entries(x.response.headers).map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${pretty(x.response.body)}` : `No response: ${x.error ?? 'unknown error'}`}</pre>
              </div>
            ))}
          </>
        )}
      </section>
    </div>
  );
}

function pretty(body: string): string {
  try { return JSON.stringify(JSON.parse(body), null, 2); } catch { return body; }
}
