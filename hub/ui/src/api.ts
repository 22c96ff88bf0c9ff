// Talking to the hub: every request carries the token as a bearer header, never in a URL (URLs
// end up in logs and history). The live stream is read with fetch for the same reason:
// EventSource cannot send headers.

const TOKEN_KEY = 'edgeml.dashboard.token';

export const savedToken = (): string | null => sessionStorage.getItem(TOKEN_KEY);
export const saveToken = (t: string): void => sessionStorage.setItem(TOKEN_KEY, t);
export const forgetToken = (): void => sessionStorage.removeItem(TOKEN_KEY);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<T> {
  const token = init.token ?? savedToken() ?? '';
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, (json as { error?: string } | undefined)?.error ?? `HTTP ${res.status}`);
  return json as T;
}

/** Read the hub's event stream until it ends or `signal` aborts; each message goes to `on`. */
export async function readStream(on: (event: string, data: unknown) => void, signal: AbortSignal, onOpen: () => void): Promise<void> {
  const res = await fetch('/v1/events/stream', { headers: { authorization: `Bearer ${savedToken() ?? ''}` }, signal });
  if (!res.ok || !res.body) throw new ApiError(res.status, `event stream: HTTP ${res.status}`);
  onOpen();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length === 0) continue;
      try {
        on(event, JSON.parse(data.join('\n')));
      } catch {
        // A frame that is not JSON is not ours to show.
      }
    }
  }
}
