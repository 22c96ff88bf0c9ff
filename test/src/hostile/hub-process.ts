/**
 * A hub as its own OS process (`edgeml hub start` on ports 0), so a test sees a crash as a
 * crash: the process exits, and every device would drop with its embedded broker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { repoRoot } from '../helpers/cli.js';

export interface HubProcess {
  readonly child: ChildProcess;
  readonly brokerUrl: string;
  readonly httpUrl: string;
  /** True once the process has exited (crashed or killed). */
  exited(): boolean;
  /** Rejects with the hub's last output when the process exits; race it against what a test waits for. */
  readonly crashed: Promise<never>;
  output(): string;
  secrets(): Promise<{ hub: string; operator: string; admin: string }>;
  get(path: string): Promise<{ status: number; text: string }>;
  kill(): Promise<void>;
}

export async function spawnHub(dataDir: string, timeoutMs = 60_000): Promise<HubProcess> {
  const child = spawn(process.execPath, [join(repoRoot, 'cli/bin/edgeml.js'), 'hub', 'start', '--data-dir', dataDir, '--mqtt-port', '0', '--http-port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let gone = false;
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((gone = true), resolve())));
  const urls = await new Promise<{ broker: string; api: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /hub running: broker (\S+), API (\S+?),/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ broker: m[1]!, api: m[2]! });
      }
    };
    child.stdout!.on('data', check);
    // `exit` never rejects: it resolves when the process is gone.
    exit
      .then(() => {
        clearTimeout(timer);
        reject(new Error(`hub exited at start (code ${child.exitCode}):\n${out}`));
      })
      .catch(reject);
  });
  const crashed = exit.then(() => Promise.reject(new Error(`the hub process exited (code ${child.exitCode}, signal ${child.signalCode}):\n${out.slice(-3000)}`)));
  // Observed here so that a hub killed at the end of a test is no unhandled rejection.
  void crashed.catch(() => undefined);
  const secrets = async () => JSON.parse(await readFile(join(dataDir, 'secrets.json'), 'utf8')) as { hub: string; operator: string; admin: string };
  return {
    child,
    brokerUrl: urls.broker,
    httpUrl: urls.api,
    exited: () => gone,
    crashed,
    output: () => out,
    secrets,
    async get(path) {
      const res = await fetch(`${urls.api}${path}`, { headers: { authorization: `Bearer ${(await secrets()).admin}` } });
      return { status: res.status, text: await res.text() };
    },
    async kill() {
      if (!gone) child.kill('SIGKILL');
      await exit;
    },
  };
}

/** An MQTT client that gives up instead of reconnecting, with the client id the broker's rule wants. */
export const mqttAs = (url: string, username: string, password: string, extra: IClientOptions = {}): Promise<MqttClient> =>
  connectAsync(url, { username, password, clientId: username, reconnectPeriod: 0, connectTimeout: 10_000, ...extra });

/** The value of one labelled Prometheus counter in a /metrics text, 0 when absent. */
export function counterValue(metrics: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.indexOf('}'));
    if (want.every((w) => inside.split(',').includes(w))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
