/**
 * Small hand-written SVG charts: a bar series over time and horizontal bars.
 * Each has an aria-label summary and a <title> per bar (hover and screen readers).
 */
export interface Point { label: string; value: number; detail?: string; tone?: 'ok' | 'bad' | 'warn' | 'muted' }

export function BarChart({ points, label, height = 140, unit = 'events' }: { points: Point[]; label: string; height?: number; unit?: string }) {
  const max = Math.max(1, ...points.map((p) => p.value));
  const total = points.reduce((s, p) => s + p.value, 0);
  const w = 600;
  const pad = { top: 8, bottom: 22, left: 36, right: 4 };
  const inner = w - pad.left - pad.right;
  const bw = points.length > 0 ? inner / points.length : inner;
  const y = (v: number) => pad.top + (height - pad.top - pad.bottom) * (1 - v / max);
  const every = Math.max(1, Math.ceil(points.length / 6));
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${w} ${height}`} role="img" aria-label={`${label}: ${total.toLocaleString('en-US')} ${unit} over ${points.length} intervals, peak ${max.toLocaleString('en-US')}`}>
        <line x1={pad.left} x2={w - pad.right} y1={y(0)} y2={y(0)} className="axis" />
        <text x={pad.left - 4} y={y(max) + 4} className="tick" textAnchor="end">{compact(max)}</text>
        <text x={pad.left - 4} y={y(0)} className="tick" textAnchor="end">0</text>
        {points.map((p, i) => (
          <g key={i}>
            <rect x={pad.left + i * bw + bw * 0.1} width={Math.max(1, bw * 0.8)} y={y(p.value)} height={Math.max(0, y(0) - y(p.value))} className={`bar ${p.tone ?? 'ok'}`}>
              <title>{`${p.label}: ${p.value.toLocaleString('en-US')} ${unit}${p.detail ? ` (${p.detail})` : ''}`}</title>
            </rect>
            {i % every === 0 && <text x={pad.left + i * bw + bw / 2} y={height - 6} className="tick" textAnchor="middle">{p.label}</text>}
          </g>
        ))}
      </svg>
      <figcaption>{label}</figcaption>
    </figure>
  );
}

export function HBars({ rows, label }: { rows: Point[]; label: string }) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  return (
    <figure className="hbars" aria-label={label}>
      {rows.map((r) => (
        <div className="hbar" key={r.label}>
          <span className="hbar-label">{r.label}</span>
          <span className="hbar-track"><span className={`hbar-fill ${r.tone ?? 'ok'}`} style={{ width: `${(r.value / max) * 100}%` }} /></span>
          <span className="hbar-value">{r.value.toLocaleString('en-US')}{r.detail ? <small> {r.detail}</small> : null}</span>
        </div>
      ))}
      <figcaption>{label}</figcaption>
    </figure>
  );
}

function compact(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/** Fills the buckets between `from` and `to` that a series leaves out (Delivery Overview omits empty ones). */
export function buckets(series: { time: string; count: number }[], from: number, to: number, stepMs: number, fmt: (d: Date) => string): Point[] {
  const byTime = new Map<number, number>();
  for (const s of series) {
    const t = Math.floor(Date.parse(s.time) / stepMs) * stepMs;
    byTime.set(t, (byTime.get(t) ?? 0) + s.count);
  }
  const out: Point[] = [];
  for (let t = Math.floor(from / stepMs) * stepMs; t <= to; t += stepMs) out.push({ label: fmt(new Date(t)), value: byTime.get(t) ?? 0 });
  return out;
}
