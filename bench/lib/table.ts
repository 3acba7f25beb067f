/** Plain-text tables for the terminal (and pasting into docs/benchmarks.md as Markdown). */
export type Cell = string | number | null | undefined;

export function fmt(v: Cell, digits = 0): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function printTable(title: string, header: string[], rows: Cell[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : fmt(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
  const out = [`\n### ${title}\n`, line(cells[0]!), '|' + widths.map((w, i) => (i === 0 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|'];
  for (const r of cells.slice(1)) out.push(line(r));
  console.log(out.join('\n'));
}

export function pct(a: number, b: number): string {
  return b > 0 ? `${((100 * a) / b).toFixed(1)}%` : '–';
}

export function mb(kb: number | null | undefined): string {
  return kb === null || kb === undefined ? '–' : `${(kb / 1024).toFixed(1)} MB`;
}
