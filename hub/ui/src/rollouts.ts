import { html } from 'htm/preact';
import { ActionButton } from './actions.js';
import { ACTIVE, when, type Rollout } from './types.js';

const gates = (g: Rollout['plan']['gates']) =>
  Object.entries(g)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(' · ') || 'none';

function Waves({ r }: { r: Rollout }) {
  const total = r.devices.order.length;
  const upgraded = r.devices.upgraded.length;
  return html`<div>
    <progress max=${total} value=${upgraded} aria-label=${`rollout ${r.id}: ${upgraded} of ${total} devices sent`}></progress>
    <span> ${upgraded}/${total} devices · canary ${r.devices.canary.length} · waves ${r.plan.waves.map((w, i) => (i === r.wave && r.state === 'wave' ? `[${w}%]` : `${w}%`)).join(' → ')}</span>
  </div>`;
}

/** Live and recent rollouts with their waves, gates and the actions a token may take on them. */
export function RolloutsView({ rollouts, may, onChanged }: { rollouts: Rollout[]; may: (a: string) => boolean; onChanged: () => void }) {
  const sorted = [...rollouts].sort((a, b) => b.id - a.id);
  const live = sorted.filter((r) => ACTIVE.includes(r.state));
  const done = sorted.filter((r) => !ACTIVE.includes(r.state)).slice(0, 20);
  const steer = may('steer-rollout');
  const card = (r: Rollout) => html`<li class=${`rollout st-${r.state}`} data-rollout=${r.id}>
    <h3>Rollout ${r.id}: ${r.model} v${r.version} <span class="state" data-testid="rollout-state">${r.state}</span></h3>
    <p>${r.channel} · from ${r.fromVersion === null ? 'nothing' : `v${r.fromVersion}`} · started ${when(r.createdAt)}${r.requested ? ` · ${r.requested} requested` : ''}</p>
    <${Waves} r=${r} />
    <p><strong>Gates:</strong> ${gates(r.plan.gates)}${r.plan.benchmark ? ' · device benchmark first' : ''}</p>
    ${r.reason ? html`<p class="reason"><strong>Reason:</strong> ${r.reason}</p>` : null}
    ${steer && ACTIVE.includes(r.state)
      ? html`<p class="actions">
          ${r.state === 'paused'
            ? html`<${ActionButton} label="Resume" confirm=${`Resume rollout ${r.id}?`} path=${`/v1/rollouts/${r.id}/resume`} onDone=${onChanged} />`
            : html`<${ActionButton} label="Pause" confirm=${`Pause rollout ${r.id}?`} path=${`/v1/rollouts/${r.id}/pause`} onDone=${onChanged} />`}
          <${ActionButton} label="Abort and roll back" confirm=${`Abort rollout ${r.id} and send its devices back to v${r.fromVersion ?? '?'}?`} path=${`/v1/rollouts/${r.id}/abort`} onDone=${onChanged} />
        </p>`
      : null}
  </li>`;
  return html`
    <section aria-labelledby="rollouts-h">
      <h2 id="rollouts-h">Rollouts</h2>
      <h3 class="sub">Live</h3>
      ${live.length ? html`<ul class="cards" data-testid="live-rollouts">${live.map(card)}</ul>` : html`<p data-testid="no-live-rollouts">No rollout is running.</p>`}
      <h3 class="sub">Recent</h3>
      ${done.length ? html`<ul class="cards">${done.map(card)}</ul>` : html`<p>None yet.</p>`}
    </section>
  `;
}
