/**
 * A real Mosquitto for the external-broker tests: started as a child process on 127.0.0.1 with a
 * password file, the ACL file of docs/EXTERNAL-BROKER.md and no anonymous access; plus a hub
 * that uses it (`brokerUrl`) and agents provisioned the way an operator provisions them for an
 * external broker: a user per device in the password file, the agent config written by hand.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { AgentConfigSchema, silentLogger } from '@edgeml/core';
import { startAgent } from '@edgeml/agent';
import { startHub, type HubOptions } from '@edgeml/hub';
import { deviceRuntimes } from 'edgeml';
import type { FleetAgent } from '../fleet/fleet.js';
import { waitFor, type TestHub } from './fleet.js';

const run = promisify(execFile);

export const HUB_USER = 'edgeml-hub';
export const OPERATOR_USER = 'edgeml-operator';

/**
 * The ACL file, word for word the one docs/EXTERNAL-BROKER.md gives (the test checks they agree):
 * hub/src/security/acl.ts in Mosquitto's terms. `pattern` lines apply to every user, with %u the
 * user name (= the device id).
 */
export const MOSQUITTO_ACL = `# edgeml ACL for Mosquitto (acl_file): the embedded broker's rules (hub/src/security/acl.ts).
# The hub: everything.
user edgeml-hub
topic readwrite #

# Operators (edgeml fleet status): read device statuses, presence, the hub's analyses and the desired state, publish nothing.
user edgeml-operator
topic read edgeml/v1/devices/+/status
topic read edgeml/v1/devices/+/presence
topic read edgeml/v1/fleet/devices/+
topic read edgeml/v1/fleet/desired/#

# Devices (user name = device id): read releases and artifact chunks, read and write only
# their own subtree (status, telemetry, feedback, cmd, cmd/result).
pattern read edgeml/v1/releases/#
pattern read edgeml/v1/artifacts/+/+/+
pattern readwrite edgeml/v1/devices/%u/#
`;

/**
 * The broker limits of docs/EXTERNAL-BROKER.md's mosquitto.conf, word for word (a test checks
 * they agree): Mosquitto's form of the embedded broker's client-id rule and packet-size limit.
 */
export const MOSQUITTO_LIMITS = `# Client id = user name: no client takes over another's session (the hub's included).
use_username_as_clientid true
# Refuse packets over 16 MiB (the largest artifact chunk plus headroom); the client is disconnected.
max_packet_size 16777216
`;

const PACKAGE_HINT = 'install the Debian package `mosquitto` (apt-get install -y mosquitto; CI installs it from .ci/apt-packages)';

/** The absolute path of a program on PATH or in the sbin folders Debian puts mosquitto in. */
async function which(program: string): Promise<string> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'].filter(Boolean);
  for (const d of dirs) {
    const p = join(d, program);
    if (await access(p, constants.X_OK).then(() => true, () => false)) return p;
  }
  throw new Error(`\`${program}\` was not found (PATH and /usr/sbin): ${PACKAGE_HINT}`);
}

/** A free TCP port on 127.0.0.1 (Mosquitto cannot listen on port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = tcpConnect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

export interface Mosquitto {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Passwords by user name, as written to the password file. */
  readonly users: ReadonlyMap<string, string>;
  /** Add users to the password file and have the running broker reload it (SIGHUP). */
  addUsers(users: Record<string, string>): Promise<void>;
  /** SIGTERM, and wait until the process has exited. */
  stop(): Promise<void>;
  /** Start it again on the same port with the same files. */
  start(): Promise<void>;
  /** What the broker logged (stdout and stderr). */
  log(): string;
}

export interface MosquittoOptions {
  /**
   * Default true, as docs/EXTERNAL-BROKER.md says to run it: retained releases, chunks and
   * statuses, and the hub's persistent session (its subscriptions and the messages queued for
   * it), survive a broker restart. Without it, telemetry a device sends after the restart but
   * before the hub has subscribed again is acknowledged and lost.
   */
  persistence?: boolean;
  /** Extra lines for mosquitto.conf. */
  config?: string[];
  /** Default true: the limits of MOSQUITTO_LIMITS. False runs Mosquitto as it was configured before them. */
  limits?: boolean;
}

/** A strong random password, as enrolment would issue (192 bits). */
export const newPassword = () => randomBytes(24).toString('base64url');

export async function startMosquitto(users: Record<string, string>, opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const mosquitto = await which('mosquitto');
  const passwdTool = await which('mosquitto_passwd');
  const dir = await mkdtemp(join(tmpdir(), 'edgeml-mosquitto-'));
  const port = await freePort();
  const passwordFile = join(dir, 'passwd');
  const aclFile = join(dir, 'acl');
  const dataDir = join(dir, 'data');
  await mkdir(dataDir);
  const known = new Map<string, string>();
  const add = async (more: Record<string, string>) => {
    for (const [name, password] of Object.entries(more)) {
      // -c creates the file with the first user; -b takes the password from the command line.
      await run(passwdTool, [...(known.size === 0 ? ['-c'] : []), '-b', passwordFile, name, password]);
      known.set(name, password);
    }
  };
  await add(users);
  await writeFile(aclFile, MOSQUITTO_ACL, { mode: 0o600 });
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${passwordFile}`,
      `acl_file ${aclFile}`,
      `persistence ${opts.persistence === false ? 'false' : 'true'}`,
      `persistence_location ${dataDir}/`,
      // The hub's session receives every device's telemetry and feedback: after an outage the
      // whole fleet flushes its outboxes at once, beyond the default queue of 1000 messages.
      'max_queued_messages 100000',
      ...(opts.limits === false ? [] : MOSQUITTO_LIMITS.trim().split('\n')),
      // Started as root (a CI container), Mosquitto would switch to the `mosquitto` user and
      // could not read these files in a 0700 temp dir; as any other user this line is ignored.
      'user root',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      ...(opts.config ?? []),
    ].join('\n') + '\n',
  );
  let output = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    const p = spawn(mosquitto, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = p;
    p.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    p.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    let gone = false;
    exited = new Promise((resolve) => p.once('exit', () => { gone = true; resolve(); }));
    p.once('error', (e) => (output += `spawn failed: ${e.message}\n`));
    const deadline = Date.now() + 10_000;
    while (!(await accepts(port))) {
      if (gone) throw new Error(`mosquitto exited at start (code ${p.exitCode}):\n${output}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on port ${port} within 10 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    dir,
    users: known,
    async addUsers(more) {
      await add(more);
      const before = output.length;
      child?.kill('SIGHUP');
      // Mosquitto logs the reload; the new users can connect after it.
      await waitFor('mosquitto reloaded its password file', () => (output.slice(before).includes('Reloading config') ? true : undefined), 5_000, 20).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    },
    async stop() {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      child = undefined;
    },
    start,
    log: () => output,
  };
}

/** A hub on the external broker: the hub's own identity is `edgeml-hub` in the password file. */
export async function startExternalHub(mq: Mosquitto, dir?: string, opts: Partial<HubOptions> = {}): Promise<TestHub> {
  const base = dir ?? (await mkdtemp(join(tmpdir(), 'edgeml-hub-')));
  const hub = await startHub({
    dataDir: join(base, 'hub'),
    brokerUrl: mq.url,
    brokerUsername: HUB_USER,
    brokerPassword: mq.users.get(HUB_USER)!,
    httpPort: 0,
    log: silentLogger,
    ...opts,
  });
  return {
    hub,
    dir: base,
    rootKeyPath: join(hub.keysDir, 'root.pub'),
    async stop() {
      await hub.close();
    },
  };
}

/**
 * An agent provisioned without enrolment: its user and password are in the broker's password
 * file, and its config names them, the broker and the hub's root key (what `edgeml agent enroll`
 * would have written).
 */
export async function startProvisionedAgent(t: TestHub, mq: Mosquitto, id: string, extra: Record<string, unknown> = {}): Promise<FleetAgent> {
  const password = mq.users.get(id);
  if (!password) throw new Error(`device ${id} has no user in the broker's password file`);
  const dataDir = join(t.dir, 'agents', id);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const config = AgentConfigSchema.parse({
    deviceId: id,
    dataDir,
    model: 'iris',
    broker: { url: mq.url, username: id, password },
    rootKey: t.rootKeyPath,
    ...extra,
  });
  await writeFile(join(dataDir, 'agent.json'), JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  const agent = await startAgent({ config, runtimes: deviceRuntimes(), log: silentLogger });
  return { id, agent, dataDir };
}

export const fleetIds = (n: number) => Array.from({ length: n }, (_, i) => `fleet-${String(i).padStart(2, '0')}`);

/** `startFleet` of fleet.ts on the external broker: the same ids, tags and telemetry period. */
export async function startProvisionedFleet(t: TestHub, mq: Mosquitto, n: number): Promise<FleetAgent[]> {
  const ids = fleetIds(n);
  const missing = ids.filter((id) => !mq.users.has(id));
  if (missing.length) await mq.addUsers(Object.fromEntries(missing.map((id) => [id, newPassword()])));
  const agents: FleetAgent[] = [];
  for (const [i, id] of ids.entries()) {
    agents.push(await startProvisionedAgent(t, mq, id, { tags: i < 2 ? ['canary'] : [], telemetry: { periodMs: 300, maxQueued: 100_000 } }));
  }
  return agents;
}
