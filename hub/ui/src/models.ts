import { html } from 'htm/preact';
import { ActionButton } from './actions.js';
import { when, type Version } from './types.js';

const figure = (v: unknown): string => (typeof v === 'number' ? (Math.abs(v) < 10 ? v.toFixed(4) : v.toFixed(1)) : typeof v === 'string' ? v : JSON.stringify(v));

/** Who or what released a version: a release (by which API token) or a retraining run (by which trigger), and its parent. */
function origin(v: Version) {
  const o = v.origin;
  if (!o) return 'published over the API';
  const what = o.trigger.reason === 'release' ? (o.trigger.summary ?? 'a release') : `retraining run ${o.runId ?? '?'} (${o.trigger.summary ?? o.trigger.reason})`;
  return html`<span class="origin">${what}</span>${o.parentVersion !== null ? html`<br />replaces v${o.parentVersion}` : null}`;
}

/** Each version of the chosen model: status, gate figures it passed, where it came from, and the way back. */
export function ModelsView({ models, model, versions, may, onModel, onChanged }: { models: string[]; model: string | null; versions: Version[]; may: (a: string) => boolean; onModel: (m: string) => void; onChanged: () => void }) {
  return html`
    <section aria-labelledby="models-h">
      <h2 id="models-h">Models</h2>
      ${models.length === 0
        ? html`<p>No model has been released yet. <code>edgeml release</code> publishes one.</p>`
        : html`
            <label>Model <select value=${model ?? ''} onChange=${(e: Event) => onModel((e.target as HTMLSelectElement).value)}>${models.map((m) => html`<option value=${m}>${m}</option>`)}</select></label>
            ${model && may('rollback')
              ? html`<p class="actions"><${ActionButton} label=${`Roll back ${model}`} confirm=${`Send every device of ${model} back to the previous published version?`} path="/v1/rollback" body=${{ model }} onDone=${onChanged} /></p>`
              : null}
            <div class="scroll" tabindex="0" role="region" aria-label="Versions table">
              <table>
                <thead>
                  <tr><th scope="col">Version</th><th scope="col">Status</th><th scope="col">Channel</th><th scope="col">Gates and metrics</th><th scope="col">Artifact</th><th scope="col">Lineage</th><th scope="col">Released</th></tr>
                </thead>
                <tbody>
                  ${[...versions].reverse().map(
                    (v) => html`<tr data-version=${v.version}>
                      <th scope="row">v${v.version}</th>
                      <td class=${`status s-${v.status}`}>${v.status}</td>
                      <td>${v.channel}</td>
                      <td><dl class="metrics">${Object.entries(v.metrics).filter(([, x]) => typeof x !== 'object' || x === null).slice(0, 8).map(([k, x]) => html`<div><dt>${k}</dt><dd>${figure(x)}</dd></div>`)}</dl></td>
                      <td>${v.format}, ${(v.sizeBytes / 1024).toFixed(1)} KiB<br /><code title=${v.sha256}>${v.sha256.slice(0, 12)}</code></td>
                      <td>${origin(v)}${v.fingerprint ? html`<br />inputs <code title=${v.fingerprint}>${v.fingerprint.slice(0, 12)}</code>` : null}</td>
                      <td>${when(v.createdAt)}<br /><small>expires ${when(v.expires)}</small></td>
                    </tr>`,
                  )}
                </tbody>
              </table>
            </div>
          `}
    </section>
  `;
}
