import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { fmt, pct, type Device } from './types.js';

type Col = { key: string; label: string; value: (d: Device) => string | number | null };

const COLS: Col[] = [
  { key: 'id', label: 'Device', value: (d) => d.id },
  { key: 'model', label: 'Model', value: (d) => d.model },
  { key: 'version', label: 'Version', value: (d) => d.version },
  { key: 'desired', label: 'Desired', value: (d) => d.desiredVersion },
  { key: 'convergence', label: 'Converged', value: (d) => d.convergence },
  { key: 'online', label: 'Online', value: (d) => (d.online ? 'online' : 'offline') },
  { key: 'health', label: 'Health', value: (d) => d.health },
  { key: 'p95', label: 'p95 ms', value: (d) => d.analysis?.p95Ms ?? null },
  { key: 'accuracy', label: 'Live accuracy', value: (d) => d.analysis?.liveAccuracy ?? null },
  { key: 'drift', label: 'Drift (PSI)', value: (d) => d.analysis?.drift ?? null },
  { key: 'tags', label: 'Tags', value: (d) => d.tags.join(', ') },
];

const show = (c: Col, d: Device): string => {
  const v = c.value(d);
  if (c.key === 'p95') return fmt(v as number | null, 3);
  if (c.key === 'accuracy') return pct(v as number | null);
  if (c.key === 'drift') return fmt(v as number | null, 3);
  if (c.key === 'version' || c.key === 'desired') return v === null ? '—' : `v${v}`;
  return v === null || v === '' ? '—' : String(v);
};

const compare = (a: string | number | null, b: string | number | null): number => {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b), undefined, { numeric: true });
};

export function FleetView({ devices }: { devices: Device[] }) {
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<{ key: string; dir: 1 | -1 }>({ key: 'id', dir: 1 });
  const col = COLS.find((c) => c.key === sort.key) ?? COLS[0]!;
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  const rows = devices
    .filter((d) => words.every((w) => COLS.some((c) => show(c, d).toLowerCase().includes(w))))
    .sort((a, b) => sort.dir * compare(col.value(a), col.value(b)));
  const online = devices.filter((d) => d.online).length;
  const converged = devices.filter((d) => d.convergence === 'converged').length;
  const failed = devices.filter((d) => d.convergence === 'failed').length;
  return html`
    <section aria-labelledby="fleet-h">
      <h2 id="fleet-h">Fleet</h2>
      <p class="summary" data-testid="fleet-summary">${devices.length} devices · ${online} online · ${converged} converged · ${failed} failed</p>
      <label class="filter">Filter devices <input type="search" value=${filter} onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)} placeholder="id, model, version, tag…" /></label>
      <div class="scroll" tabindex="0" role="region" aria-label="Devices table">
        <table>
          <caption class="sr-only">Devices, sortable by column</caption>
          <thead>
            <tr>
              ${COLS.map(
                (c) => html`<th scope="col" aria-sort=${sort.key === c.key ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none'}>
                  <button type="button" class="sort" onClick=${() => setSort({ key: c.key, dir: sort.key === c.key ? (-sort.dir as 1 | -1) : 1 })}>
                    ${c.label}${sort.key === c.key ? (sort.dir === 1 ? ' ▲' : ' ▼') : ''}
                  </button>
                </th>`,
              )}
            </tr>
          </thead>
          <tbody>
            ${rows.map(
              (d) => html`<tr data-device=${d.id}>
                ${COLS.map((c) => (c.key === 'id' ? html`<th scope="row" data-col=${c.key}>${d.id}</th>` : html`<td data-col=${c.key} class=${`c-${c.key} v-${String(c.value(d))}`}>${show(c, d)}</td>`))}
              </tr>`,
            )}
          </tbody>
        </table>
      </div>
      ${rows.length === 0 ? html`<p>No device matches.</p>` : null}
    </section>
  `;
}
