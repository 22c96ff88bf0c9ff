import { html, render } from 'htm/preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { ApiError, api, forgetToken, readStream, saveToken, savedToken } from './api.js';
import { ChartsView } from './charts.js';
import { FeedView } from './feed.js';
import { FleetView } from './fleet.js';
import { ModelsView } from './models.js';
import { RolloutsView } from './rollouts.js';
import type { Device, HubEvent, Rollout, Series, Version, Whoami } from './types.js';

const PAGES = [
  { id: 'fleet', label: 'Fleet' },
  { id: 'rollouts', label: 'Rollouts' },
  { id: 'models', label: 'Models' },
  { id: 'charts', label: 'Charts' },
  { id: 'events', label: 'Events' },
] as const;
type Page = (typeof PAGES)[number]['id'];

const pageOf = (hash: string): Page => (PAGES.find((p) => `#${p.id}` === hash)?.id ?? 'fleet');

function Login({ onToken, error }: { onToken: (t: string) => void; error: string | null }) {
  const [value, setValue] = useState('');
  return html`<main class="login">
    <h1>edgeml fleet</h1>
    <form
      onSubmit=${(e: Event) => {
        e.preventDefault();
        if (value.trim()) onToken(value.trim());
      }}
    >
      <label for="token">API token</label>
      <input id="token" name="token" type="password" autocomplete="off" required value=${value} onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)} />
      <p class="hint">An operator token shows the fleet; an admin token also allows actions. Create one with <code>edgeml hub token --kind operator</code>. It is kept in this tab only.</p>
      ${error ? html`<p role="alert" class="error">${error}</p>` : null}
      <button type="submit">Sign in</button>
    </form>
  </main>`;
}

function App() {
  const [who, setWho] = useState<Whoami | null>(null);
  const [loginError, setLoginError] = useState<string | null>(null);
  const [page, setPage] = useState<Page>(pageOf(location.hash));
  const [devices, setDevices] = useState<Device[]>([]);
  const [rollouts, setRollouts] = useState<Rollout[]>([]);
  const [models, setModels] = useState<string[]>([]);
  const [model, setModel] = useState<string | null>(null);
  const [versions, setVersions] = useState<Version[]>([]);
  const [events, setEvents] = useState<HubEvent[]>([]);
  const [series, setSeries] = useState<Series | null>(null);
  const [hours, setHours] = useState(6);
  const [live, setLive] = useState<'connecting' | 'live' | 'reconnecting'>('connecting');
  const [problem, setProblem] = useState<string | null>(null);

  const signIn = useCallback(async (token: string) => {
    try {
      const w = await api<Whoami>('/v1/whoami', { token });
      saveToken(token);
      setWho(w);
      setLoginError(null);
    } catch (e) {
      forgetToken();
      setWho(null);
      setLoginError(e instanceof ApiError && e.status === 401 ? 'The hub does not know this token (or it was revoked or expired).' : (e as Error).message);
    }
  }, []);

  useEffect(() => {
    const t = savedToken();
    if (t) signIn(t).catch((e: unknown) => setLoginError(String(e)));
    const onHash = () => setPage(pageOf(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, [signIn]);

  // Every loader reports a failure on the page and keeps the last good data.
  const guard = useCallback(<T,>(p: Promise<T>, set: (v: T) => void) => {
    p.then((v) => {
      set(v);
      setProblem(null);
    }).catch((e: unknown) => setProblem((e as Error).message));
  }, []);
  const loadFleet = useCallback(() => guard(api<Device[]>('/v1/fleet'), setDevices), [guard]);
  const loadRollouts = useCallback(() => guard(api<Rollout[]>('/v1/rollouts'), setRollouts), [guard]);
  const loadEvents = useCallback(() => guard(api<HubEvent[]>('/v1/events?limit=100'), setEvents), [guard]);
  const loadModels = useCallback(
    () =>
      guard(api<{ model: string }[]>('/v1/models'), (ms) => {
        setModels(ms.map((m) => m.model));
        setModel((cur) => cur ?? ms[0]?.model ?? null);
      }),
    [guard],
  );
  const loadVersions = useCallback(() => {
    if (model) guard(api<Version[]>(`/v1/models/${encodeURIComponent(model)}/versions`), setVersions);
  }, [guard, model]);
  const loadSeries = useCallback(() => {
    if (model) guard(api<Series>(`/v1/models/${encodeURIComponent(model)}/series?hours=${hours}&buckets=60`), setSeries);
  }, [guard, model, hours]);

  useEffect(() => {
    if (!who) return;
    loadFleet();
    loadRollouts();
    loadEvents();
    loadModels();
    // Figures (p95, accuracy, drift) move without a status change: refresh them now and then.
    const t = setInterval(loadFleet, 15_000);
    return () => clearInterval(t);
  }, [who, loadFleet, loadRollouts, loadEvents, loadModels]);
  useEffect(() => {
    if (who) loadVersions();
  }, [who, loadVersions]);
  useEffect(() => {
    if (who && page === 'charts') loadSeries();
  }, [who, page, loadSeries]);

  useEffect(() => {
    if (!who) return;
    const stop = new AbortController();
    let delay = 1000;
    const onMessage = (name: string, data: unknown) => {
      if (name === 'hub') {
        const e = data as HubEvent;
        setEvents((old) => [e, ...old.filter((o) => o.id !== e.id)].slice(0, 200));
        if (e.type.startsWith('rollout.') || e.type === 'gate.failed') loadRollouts();
        if (e.type.startsWith('release.')) {
          loadModels();
          loadVersions();
        }
        if (e.type.startsWith('device.') || e.type.startsWith('release.')) loadFleet();
        // Delivery results are written after the event: fetch them a little later.
        setTimeout(loadEvents, 3000);
      } else if (name === 'changed') {
        const kinds = (data as { kinds: string[] }).kinds;
        if (kinds.includes('fleet')) loadFleet();
        if (kinds.includes('rollouts')) loadRollouts();
      }
    };
    const loop = async () => {
      while (!stop.signal.aborted) {
        try {
          await readStream(onMessage, stop.signal, () => {
            setLive('live');
            delay = 1000;
            // Whatever happened while the stream was down.
            loadFleet();
            loadRollouts();
            loadEvents();
          });
        } catch {
          // Reconnected below with a backoff.
        }
        if (stop.signal.aborted) return;
        setLive('reconnecting');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    };
    loop().catch((e: unknown) => setProblem(`live updates stopped: ${String(e)}`));
    return () => stop.abort();
  }, [who, loadFleet, loadRollouts, loadEvents, loadModels, loadVersions]);

  if (!who) return html`<${Login} onToken=${(t: string) => signIn(t).catch((e: unknown) => setLoginError(String(e)))} error=${loginError} />`;
  // The page acts only with an admin token: one left open with an operator token only shows.
  const may = (action: string) => who.kind === 'admin' && who.actions.includes(action);
  const changed = () => {
    loadFleet();
    loadRollouts();
    loadVersions();
    loadEvents();
  };
  return html`
    <header>
      <h1>edgeml fleet</h1>
      <nav aria-label="Dashboard pages">
        <ul>${PAGES.map((p) => html`<li><a href=${`#${p.id}`} aria-current=${page === p.id ? 'page' : undefined}>${p.label}</a></li>`)}</ul>
      </nav>
      <p class="who">
        <span class=${`live ${live}`} role="status" aria-live="polite">${live === 'live' ? '● live' : live === 'connecting' ? 'connecting…' : 'reconnecting…'}</span>
        <span data-testid="token-kind">${who.kind}${who.kind === 'admin' ? '' : ' (read-only)'}</span>
        <button type="button" onClick=${() => {
          forgetToken();
          setWho(null);
        }}>Sign out</button>
      </p>
    </header>
    <main>
      ${problem ? html`<p role="alert" class="error">The hub answered: ${problem}</p>` : null}
      ${page === 'fleet' ? html`<${FleetView} devices=${devices} />` : null}
      ${page === 'rollouts' ? html`<${RolloutsView} rollouts=${rollouts} may=${may} onChanged=${changed} />` : null}
      ${page === 'models' ? html`<${ModelsView} models=${models} model=${model} versions=${versions} may=${may} onModel=${setModel} onChanged=${changed} />` : null}
      ${page === 'charts' ? html`<${ChartsView} models=${models} model=${model} series=${series} hours=${hours} onModel=${setModel} onHours=${setHours} />` : null}
      ${page === 'events' ? html`<${FeedView} events=${events} />` : null}
    </main>
  `;
}

const root = document.getElementById('app')!;
// The server-rendered "loading" line goes; the app owns the container from here.
root.replaceChildren();
render(html`<${App} />`, root);
