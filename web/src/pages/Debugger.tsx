import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { DebuggerEntry } from '../types';
import { Empty, fmtTime } from '../ui';

type Conn = 'connecting' | 'live' | 'paused' | 'retrying';
const MAX = 200;

/**
 * The live source debugger: Server-Sent Events from `/api/v1/sources/:id/debugger`
 * (a `recent` event with the buffer, then one `event` per sampled event).
 */
export function Debugger({ sourceId }: { sourceId: string }) {
  const [entries, setEntries] = useState<DebuggerEntry[]>([]);
  const [conn, setConn] = useState<Conn>('connecting');
  const [paused, setPaused] = useState(false);
  const [filter, setFilter] = useState({ type: '', event: '' });
  const [draft, setDraft] = useState({ type: '', event: '' });
  const [selected, setSelected] = useState<number | null>(null);
  const [view, setView] = useState<'enriched' | 'raw'>('enriched');
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  useEffect(() => {
    const q = new URLSearchParams();
    if (filter.type) q.set('type', filter.type);
    if (filter.event) q.set('event', filter.event);
    const es = new EventSource(`/api/v1/sources/${encodeURIComponent(sourceId)}/debugger${q.size ? `?${q}` : ''}`);
    setConn('connecting');
    es.addEventListener('open', () => setConn('live'));
    es.addEventListener('error', () => setConn('retrying'));
    es.addEventListener('recent', (m) => {
      setConn('live');
      setEntries(JSON.parse((m as MessageEvent<string>).data) as DebuggerEntry[]);
    });
    es.addEventListener('event', (m) => {
      if (pausedRef.current) return;
      const e = JSON.parse((m as MessageEvent<string>).data) as DebuggerEntry;
      setEntries((prev) => [e, ...prev].slice(0, MAX));
      setSelected((s) => (s === null ? null : s + 1));
    });
    return () => es.close();
  }, [sourceId, filter]);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    setSelected(null);
    setFilter(draft);
  };
  const chosen = selected === null ? undefined : entries[selected];
  const label: Record<Conn, string> = { connecting: 'Connecting…', live: 'Live', paused: 'Paused', retrying: 'Disconnected: retrying…' };

  return (
    <div className="debugger">
      <div className="toolbar">
        <span className={`badge ${paused ? 'off' : conn === 'live' ? 'ok' : 'warn'}`} role="status" aria-live="polite">{paused ? 'Paused' : label[conn]}</span>
        <button type="button" className="btn small" onClick={() => setPaused(!paused)} aria-pressed={paused}>{paused ? 'Resume' : 'Pause'}</button>
        <form className="inline" onSubmit={apply}>
          <label>Type <select value={draft.type} onChange={(e) => setDraft({ ...draft, type: e.target.value })}>
            <option value="">All</option>{['track', 'identify', 'page', 'screen', 'group', 'alias'].map((t) => <option key={t}>{t}</option>)}
          </select></label>
          <label>Event <input value={draft.event} placeholder="Order Completed" onChange={(e) => setDraft({ ...draft, event: e.target.value })} /></label>
          <button type="submit" className="btn small">Filter</button>
        </form>
      </div>
      <p className="muted small">A live sample (up to 20 events a second) of what this source receives; the newest 200 are kept.</p>
      {entries.length === 0 ? (
        <Empty title="Waiting for events…">
          <p>Send an event with the snippet on the Setup tab; it shows up here within a second.</p>
        </Empty>
      ) : (
        <div className="split">
          <ol className="event-list" aria-label="Events received">
            {entries.map((e, i) => (
              <li key={`${String(e.messageId ?? '')}-${i}`}>
                <button type="button" className={`debugger-row${i === selected ? ' selected' : ''}`} aria-pressed={i === selected} onClick={() => setSelected(i)}>
                  <span className={`type type-${e.type ?? 'x'}`}>{e.type}</span>
                  <span className="ev-name">{e.event ?? nameOf(e)}</span>
                  <span className="muted small">{fmtTime(e.receivedAt as string)}</span>
                </button>
              </li>
            ))}
          </ol>
          <div className="event-detail">
            {chosen ? (
              <>
                <div className="toolbar">
                  <button type="button" className="btn small" aria-pressed={view === 'enriched'} onClick={() => setView('enriched')}>As stored</button>
                  <button type="button" className="btn small" aria-pressed={view === 'raw'} onClick={() => setView('raw')}>As sent</button>
                </div>
                <pre className="code" tabIndex={0}>{JSON.stringify(view === 'raw' ? chosen.raw : chosen.enriched, null, 2)}</pre>
              </>
            ) : <p className="muted">Choose an event to see its JSON.</p>}
          </div>
        </div>
      )}
    </div>
  );
}

function nameOf(e: DebuggerEntry): string {
  const m = e.enriched as { name?: string; userId?: string; anonymousId?: string; groupId?: string; previousId?: string };
  return m.name ?? m.userId ?? m.groupId ?? m.anonymousId ?? '';
}
