import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api } from './api.js';

/**
 * A button that changes the fleet: it asks once more before it acts (an inline confirmation,
 * reachable by keyboard), then reports what the hub said.
 */
export function ActionButton({ label, confirm, path, body, onDone }: { label: string; confirm: string; path: string; body?: unknown; onDone: () => void }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const act = async () => {
    setBusy(true);
    setError(null);
    try {
      await api(path, { method: 'POST', body: body ?? {} });
      setAsking(false);
      onDone();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  if (!asking) {
    return html`<span class="action"><button type="button" onClick=${() => setAsking(true)}>${label}</button>${error ? html`<span role="alert" class="error">${error}</span>` : null}</span>`;
  }
  return html`<span class="action confirm" role="group" aria-label=${confirm}>
    <span>${confirm}</span>
    <button type="button" class="danger" disabled=${busy} onClick=${() => act().catch((e: unknown) => setError(String(e)))}>Confirm</button>
    <button type="button" onClick=${() => setAsking(false)}>Cancel</button>
    ${error ? html`<span role="alert" class="error">${error}</span>` : null}
  </span>`;
}
