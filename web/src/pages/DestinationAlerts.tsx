import { useState, type FormEvent } from 'react';
import { api } from '../api';
import { useAction, useApi } from '../hooks';
import { canWrite, useSession } from '../session';
import type { Destination } from '../types';
import { Empty, ErrorBox, Field, Loading, Table, fmtTime } from '../ui';

interface Channel { type: 'in_app' | 'slack' | 'email'; webhookUrl?: string; to?: string[] }
interface Alert { id: string; kind: string; destinationId?: string; sourceId?: string; belowPercent?: number; channels: Channel[]; enabled: boolean; state: string; createdBy: string }
interface Notification { id: number; alertId: string; at: string; status: 'firing' | 'resolved'; message: string }

/** Delivery-rate alerts on this destination, and the in-app notifications they raised. */
export default function DestinationAlerts({ destination: d }: { destination: Destination }) {
  const { user, open } = useSession();
  const writable = canWrite(user, open);
  const alerts = useApi<{ data: { alerts: Alert[] } }>('/api/v1/alerts');
  const notes = useApi<{ data: { notifications: Notification[] } }>('/api/v1/alerts/notifications?limit=50', { pollMs: 15000 });
  const mine = (alerts.data?.data.alerts ?? []).filter((a) => a.destinationId === d.id);
  const ids = new Set(mine.map((a) => a.id));
  const [form, setForm] = useState({ belowPercent: '95', slack: '', email: '' });
  const save = useAction();
  const row = useAction();
  const f = save.error?.fields ?? {};
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const channels: Channel[] = [{ type: 'in_app' }];
    if (form.slack.trim()) channels.push({ type: 'slack', webhookUrl: form.slack.trim() });
    if (form.email.trim()) channels.push({ type: 'email', to: form.email.split(',').map((s) => s.trim()).filter(Boolean) });
    const ok = await save.run(async () => { await api.post('/api/v1/alerts', { kind: 'delivery_rate', destinationId: d.id, belowPercent: Number(form.belowPercent), channels }); return true; });
    if (ok) alerts.reload();
  };
  const toggle = (a: Alert) => void row.run(async () => { await api.patch(`/api/v1/alerts/${encodeURIComponent(a.id)}`, { enabled: !a.enabled }); alerts.reload(); });
  const remove = (a: Alert) => { if (window.confirm('Delete this alert?')) void row.run(async () => { await api.del(`/api/v1/alerts/${encodeURIComponent(a.id)}`); alerts.reload(); }); };
  return (
    <div className="grid2">
      <section className="panel">
        <h2>Alerts on this destination</h2>
        {alerts.loading && !alerts.data && <Loading />}
        <ErrorBox error={alerts.error} onRetry={alerts.reload} what="Could not load alerts" />
        {alerts.data && mine.length === 0 && <Empty title="No alerts"><p>Get told when the share of events delivered falls under a threshold.</p></Empty>}
        {mine.length > 0 && (
          <Table label="Alerts">
            <thead><tr><th>When</th><th>Notify</th><th>State</th><th></th></tr></thead>
            <tbody>{mine.map((a) => (
              <tr key={a.id}>
                <td>delivered &lt; {a.belowPercent}%</td>
                <td>{a.channels.map((c) => c.type === 'in_app' ? 'in app' : c.type).join(', ')}</td>
                <td><span className={`badge ${!a.enabled ? 'off' : a.state === 'firing' ? 'bad' : 'ok'}`}>{a.enabled ? a.state : 'disabled'}</span></td>
                <td>{writable && <><button type="button" className="btn small" onClick={() => toggle(a)}>{a.enabled ? 'Disable' : 'Enable'}</button> <button type="button" className="btn small danger" onClick={() => remove(a)}>Delete</button></>}</td>
              </tr>
            ))}</tbody>
          </Table>
        )}
        <ErrorBox error={row.error} />
        <h2>Recent notifications</h2>
        {(notes.data?.data.notifications ?? []).filter((n) => ids.has(n.alertId)).length === 0 && <p className="muted">None.</p>}
        <ul className="notes">{(notes.data?.data.notifications ?? []).filter((n) => ids.has(n.alertId)).map((n) => (
          <li key={n.id}><span className={`badge ${n.status === 'firing' ? 'bad' : 'ok'}`}>{n.status}</span> {n.message} <span className="muted small">{fmtTime(n.at)}</span></li>
        ))}</ul>
      </section>
      {writable && (
        <form className="panel" onSubmit={(e) => void submit(e)} noValidate>
          <h2>New delivery-rate alert</h2>
          <Field label="Alert when the share delivered falls under (%)" error={f.belowPercent}>{(p) => <input {...p} type="number" min={0} max={100} value={form.belowPercent} onChange={(e) => setForm({ ...form, belowPercent: e.target.value })} />}</Field>
          <p className="muted small">Always shown in the console. Optionally also:</p>
          <Field label="Slack incoming webhook URL" error={f['channels.1.webhookUrl'] ?? f.channels}>{(p) => <input {...p} type="url" placeholder="https://hooks.slack.com/services/…" value={form.slack} onChange={(e) => setForm({ ...form, slack: e.target.value })} />}</Field>
          <Field label="Email to (comma-separated)" error={f['channels.2.to'] ?? f['channels.1.to']} hint="Needs SWITCHYARD_SMTP_URL on the server.">{(p) => <input {...p} type="text" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />}</Field>
          <ErrorBox error={save.error && Object.keys(f).length === 0 ? save.error : undefined} what="Could not create the alert" />
          <button type="submit" className="btn primary" disabled={save.busy}>Create alert</button>
        </form>
      )}
    </div>
  );
}
