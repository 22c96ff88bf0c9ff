/**
 * Load on an agent's local API for memory figures: one-row JSON predictions over keep-alive
 * connections, as many clients at once as given. Used by the footprint benchmark and the
 * installed agent's memory test, which must load the agent the same way.
 */
import { Agent, request } from 'node:http';

/** POST one JSON body to /v1/predict; resolves with the status code, the answer read and dropped. */
export function postPredict(agent: Agent | false, port: number, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: '127.0.0.1', port, method: 'POST', path: '/v1/predict', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `total` predictions from `clients` keep-alive connections, cycling through `bodies`; throws on any answer but 200. */
export async function predictLoad(port: number, bodies: string[], total: number, clients: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let i = next++; i < total; i = next++) {
          const status = await postPredict(agent, port, bodies[i % bodies.length]!);
          if (status !== 200) throw new Error(`POST /v1/predict answered ${status}`);
        }
      }),
    );
  } finally {
    agent.destroy();
  }
}
