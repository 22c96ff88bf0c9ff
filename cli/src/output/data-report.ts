import type { DataReport } from '@edgeml/ml';
import { formatTable } from './table.js';

const num = (v: number | null) => (v === null ? '-' : String(Number(v.toPrecision(4))));

/** The data-validation report as a person reads it: one line per column, then the dataset. */
export function formatDataReport(r: DataReport): string {
  const table = formatTable(
    ['column', 'type', 'missing', 'non-finite', 'min', 'max', 'mean', 'constant'],
    r.columns.map((c) => [c.name + (c.name === r.target ? ' (target)' : ''), c.type === 'string' ? `text (${c.distinct ?? '?'} values)` : c.type, c.missing, c.nonFinite, num(c.min), num(c.max), num(c.mean), c.constant ? 'yes' : '']),
  );
  const balance = r.classBalance ? `\nclass balance: ${Object.entries(r.classBalance).map(([k, v]) => `${k} ${v}`).join(', ')}` : '';
  const encoding = r.encoding?.length ? `\n${r.encoding.join('\n')}` : '';
  return `data ${r.file}: ${r.rows} rows, ${r.columns.length} columns, ${r.task} on "${r.target}", ${r.duplicateRows} duplicate rows${balance}\n${table}${encoding}`;
}
