/** Plain-text rendering of section results for stdout; the JSON file keeps the full figures. */
import { isSummary, type Cell, type Column, type SectionResult, type Table } from './section.js';
import { meetsTarget, type Ratio, type Target } from './stats.js';

function fmt(n: number, digits: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cellText(cell: Cell | undefined, col: Column): string {
  if (cell === undefined) return '';
  if (typeof cell === 'string') return cell;
  const d = col.digits ?? 3;
  if (typeof cell === 'number') return fmt(cell, d);
  if (isSummary(cell)) return `${fmt(cell.median, d)} (${fmt(cell.p25, d)}-${fmt(cell.p75, d)})`;
  return '';
}

export function renderTable(t: Table): string {
  const header = t.columns.map((c) => c.header);
  const body = t.rows.map((r) => t.columns.map((c) => cellText(r[c.key], c)));
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  // Text columns read left-aligned, figures right-aligned so their digits line up.
  const numeric = t.columns.map((c) => t.rows.some((r) => typeof r[c.key] !== 'string' && r[c.key] !== undefined));
  const line = (cells: string[]) => cells.map((s, i) => (numeric[i] ? s.padStart(widths[i]!) : s.padEnd(widths[i]!))).join('  ').trimEnd();
  return [t.title, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** A figure in its unit: "0.26x", "+0.123 ms", "61.2 MB". */
export function renderFigure(value: number, r: Pick<Ratio, 'kind' | 'unit'> = {}): string {
  if (!r.kind || r.kind === 'ratio') return `${value.toFixed(2)}x`;
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : Math.abs(value) >= 1 ? 2 : 3;
  return `${r.kind === 'difference' && value >= 0 ? '+' : ''}${value.toFixed(digits)} ${r.unit ?? ''}`.trimEnd();
}

/** "target <= 0.10x (issue 4): met" */
export function renderTarget(value: number, t: Target, r: Pick<Ratio, 'kind' | 'unit'> = {}): string {
  return `target ${t.op} ${r.kind && r.kind !== 'ratio' ? renderFigure(t.value, r) : `${t.value.toFixed(2)}x`}${t.source ? ` (${t.source})` : ''}: ${meetsTarget(value, t) ? 'met' : 'MISSED'}`;
}

export function renderRatio(r: Ratio): string {
  const target = r.target ? `  [${renderTarget(r.value, r.target, r)}]` : '';
  const spread = `${renderFigure(r.rounds.p25, r)} to ${renderFigure(r.rounds.p75, r)}`;
  if (r.kind === 'value') return `${r.name}: ${renderFigure(r.value, r)}${target}  (per-round ${spread} over ${r.rounds.n} rounds; ${r.numerator})`;
  const op = r.kind === 'difference' ? '-' : '/';
  const per = r.kind === 'difference' ? spread : `${r.rounds.p25.toFixed(2)}-${r.rounds.p75.toFixed(2)}x`;
  return `${r.name}: ${renderFigure(r.value, r)}${target}  (per-round ${per} over ${r.rounds.n} paired rounds; ${r.numerator} ${op} ${r.denominator})`;
}

export function renderSection(title: string, result: SectionResult, seconds: number): string {
  const parts = [`== ${title} (${seconds.toFixed(1)} s)`];
  for (const t of result.tables) parts.push(renderTable(t));
  const heading = result.ratios.every((r) => !r.kind || r.kind === 'ratio')
    ? 'ratios (median of rounds; spread of the paired per-round ratios):'
    : 'figures (median of rounds; p25 to p75 of the per-round figures):';
  if (result.ratios.length) parts.push([heading, ...result.ratios.map((r) => `  ${renderRatio(r)}`)].join('\n'));
  if (result.notes.length) parts.push(result.notes.map((n) => `note: ${n}`).join('\n'));
  return parts.join('\n\n');
}
