/**
 * A real hub as its own OS process (`edgeml hub start` on port 0), and the small servers the
 * intercept tests put between it and a device.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../helpers/cli.js';

export interface HubProcess {
  child: ChildProcess;
  apiUrl: string;
  brokerUrl: string;
  dataDir: string;
  output(): string;
  kill(): Promise<void>;
}

/** Start `edgeml hub start` and wait for its "hub running" line (generous: the machine is loaded). */
export async function spawnHub(dataDir: string, extra: string[] = []): Promise<HubProcess> {
  const child = spawn(process.execPath, [join(repoRoot, 'cli/bin/edgeml.js'), 'hub', 'start', '--data-dir', dataDir, '--mqtt-port', '0', '--http-port', '0', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<{ broker: string; api: string }>((resolve, reject) => {
    const onData = (b: Buffer) => {
      out += b.toString();
      const m = /hub running: broker (\S+), API (\S+),/.exec(out);
      if (m) resolve({ broker: m[1]!, api: m[2]! });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    child.once('exit', (code) => reject(new Error(`hub exited (${code}) before it was ready:\n${out}`)));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
  try {
    const { broker, api } = await ready;
    return {
      child,
      apiUrl: api,
      brokerUrl: broker,
      dataDir,
      output: () => out,
      async kill() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
    };
  } finally {
    clearTimeout(timer);
  }
}

/** A self-signed certificate for 127.0.0.1 (its own CA), written into `dir`. */
export function selfSignedCert(dir: string, name = 'hub'): { cert: string; key: string } {
  const cert = join(dir, `${name}-cert.pem`);
  const key = join(dir, `${name}-key.pem`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
    { stdio: 'ignore' },
  );
  return { cert, key };
}
