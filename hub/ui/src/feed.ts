import { html } from 'htm/preact';
import { when, type Delivery, type HubEvent } from './types.js';

const delivery = (d: Delivery) => {
  const tries = `${d.attempts} ${d.attempts === 1 ? 'try' : 'tries'}`;
  if (d.state === 'delivered') return `delivered to ${d.target} (${tries})`;
  if (d.state === 'failed') return `failed to reach ${d.target} after ${tries}: ${d.lastError ?? 'error'}`;
  return d.attempts === 0 ? `sending to ${d.target}` : `retrying ${d.target} (${tries}, last: ${d.lastError ?? 'error'})`;
};

/** What happened, newest first, and whether each webhook heard about it. */
export function FeedView({ events }: { events: HubEvent[] }) {
  return html`
    <section aria-labelledby="events-h">
      <h2 id="events-h">Events</h2>
      ${events.length === 0
        ? html`<p>Nothing has happened yet.</p>`
        : html`<ol class="feed" data-testid="event-feed">
            ${events.map(
              (e) => html`<li data-event=${e.type} class=${`ev-${e.type.replace('.', '-')}`}>
                <p><time datetime=${e.at}>${when(e.at)}</time> <strong>${e.type}</strong></p>
                <p>${e.summary}</p>
                ${e.deliveries?.length ? html`<ul class="deliveries">${e.deliveries.map((d) => html`<li class=${`d-${d.state}`}>${delivery(d)}</li>`)}</ul>` : null}
              </li>`,
            )}
          </ol>`}
    </section>
  `;
}
