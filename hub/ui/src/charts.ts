import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { Series } from './types.js';

// Colour-blind-safe palette (Okabe-Ito), readable on white.
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];

type Metric = { key: 'p50Ms' | 'p95Ms' | 'errorRate' | 'accuracy' | 'drift'; label: string };
const CHARTS: { title: string; unit: string; metrics: Metric[]; range?: [number, number] }[] = [
  { title: 'Latency per row (ms)', unit: 'ms', metrics: [{ key: 'p50Ms', label: 'p50' }, { key: 'p95Ms', label: 'p95' }] },
  { title: 'Error rate', unit: '', metrics: [{ key: 'errorRate', label: 'errors' }], range: [0, 1] },
  { title: 'Live accuracy', unit: '', metrics: [{ key: 'accuracy', label: 'accuracy' }], range: [0, 1] },
  { title: 'Input drift (PSI, largest feature)', unit: '', metrics: [{ key: 'drift', label: 'PSI' }] },
];

function Chart({ series, spec }: { series: Series; spec: (typeof CHARTS)[number] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const lines = series.versions.flatMap((v, i) => spec.metrics.map((m, j) => ({ v, m, colour: COLOURS[i % COLOURS.length]!, dash: j === 0 ? undefined : [6, 4] })));
    const data: uPlot.AlignedData = [series.times, ...lines.map(({ v, m }) => v[m.key])];
    const width = () => Math.max(280, el.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 220,
        series: [{}, ...lines.map(({ v, m, colour, dash }) => ({ label: `v${v.version} ${m.label}`, stroke: colour, width: 2, spanGaps: true, points: { show: true, size: 6 }, ...(dash ? { dash } : {}) }))],
        axes: [{}, { size: 60 }],
        scales: { x: { time: true }, ...(spec.range ? { y: { range: spec.range } } : {}) },
      },
      data,
      el,
    );
    const ro = new ResizeObserver(() => plot.setSize({ width: width(), height: 220 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [series, spec]);
  const latest = series.versions.map((v) => `v${v.version}: ${spec.metrics.map((m) => `${m.label} ${[...v[m.key]].reverse().find((x) => x !== null)?.toFixed(4) ?? 'no data'}`).join(', ')}`).join('; ');
  return html`<figure class="chart">
    <figcaption>${spec.title}</figcaption>
    <div ref=${box} role="img" aria-label=${`${spec.title}, latest per version: ${latest || 'no data'}`}></div>
  </figure>`;
}

/** Per-version figures over time for one model: p50/p95 latency, error rate, live accuracy, drift. */
export function ChartsView({ models, model, series, hours, onModel, onHours }: { models: string[]; model: string | null; series: Series | null; hours: number; onModel: (m: string) => void; onHours: (h: number) => void }) {
  return html`
    <section aria-labelledby="charts-h">
      <h2 id="charts-h">Charts</h2>
      <div class="controls">
        <label>Model <select value=${model ?? ''} onChange=${(e: Event) => onModel((e.target as HTMLSelectElement).value)}>${models.map((m) => html`<option value=${m}>${m}</option>`)}</select></label>
        <label>Window <select value=${String(hours)} onChange=${(e: Event) => onHours(Number((e.target as HTMLSelectElement).value))}>
          ${[1, 6, 24, 168].map((h) => html`<option value=${String(h)}>${h < 24 ? `${h} h` : `${h / 24} d`}</option>`)}
        </select></label>
      </div>
      ${!series ? html`<p>Loading…</p>` : series.versions.length === 0 ? html`<p>No telemetry for ${series.model} in this window.</p>` : html`<div class="charts">${CHARTS.map((c) => html`<${Chart} series=${series} spec=${c} />`)}</div>`}
    </section>
  `;
}
