/**
 * The attack table: each forged, stale, replayed or mismatched release is sent to a real agent
 * over a real broker. The agent must refuse it with its reason code, install nothing, and keep
 * serving the version it had.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyDir, signEnvelope, topics, type Release, type ReleaseSigner } from '@edgeml/core';
import type { Agent } from '@edgeml/agent';
import { buildRelease, chunkHashes, releaseInputFrom, signRelease, type Candidate } from '@edgeml/hub';
import { irisModel, privilegedClientOptions, publishModel, releaseSigner, startTestAgent, startTestHub, untilStatus, type TestHub } from '../helpers/fleet.js';

let t: TestHub;
let c: Candidate;
let agent: Agent;
let dataDir: string;
let signer: ReleaseSigner;
let attacker: MqttClient;
let nextVersion = 2;

const base = (o: Partial<Parameters<typeof buildRelease>[0]> = {}): Release =>
  buildRelease({ ...releaseInputFrom(c, { model: 'iris', budgets: { probationMs: 0 } }), version: nextVersion++, ...o });

const send = (payload: unknown) =>
  attacker.publishAsync(topics.release('iris', 'stable'), typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1, retain: true });

const sendChunks = async (artifact: Release['artifact'], chunks: Uint8Array[]) => {
  for (const [i, chunk] of chunks.entries()) await attacker.publishAsync(topics.artifactChunk(artifact.sha256, artifact.chunkSize, i), Buffer.from(chunk), { qos: 1, retain: true });
};

beforeAll(async () => {
  t = await startTestHub();
  c = await irisModel();
  await publishModel(t.hub, c);
  signer = await releaseSigner(t.hub);
  ({ agent, dataDir } = await startTestAgent(t, 'victim'));
  await untilStatus(agent, 'v1 active', (s) => s.state === 'active' && s.version === 1);
  // The attacker owns the broker (or the hub's MQTT identity): only the signatures stand in the way.
  attacker = await connectAsync(t.hub.brokerUrl, privilegedClientOptions(t));
});

afterAll(async () => {
  await attacker?.endAsync();
  await agent?.close();
  await t?.stop();
});

interface Attack {
  name: string;
  reason: string;
  send: () => Promise<unknown>;
}

const attacks: Attack[] = [
  { name: 'a payload that is not JSON', reason: 'malformed', send: () => send('{"signed": nope') },
  {
    name: 'a validly signed payload that is not a release',
    reason: 'malformed',
    send: () => send({ ...signEnvelope({ type: 'release', model: 'iris' }, signer.release), releaseKey: signer.releaseKeyDoc }),
  },
  {
    name: 'a release signed under another root',
    reason: 'unknown-key',
    send: async () => {
      const other = await generateKeyDir(await mkdtemp(join(tmpdir(), 'edgeml-rogue-')));
      return send(signRelease(base(), other));
    },
  },
  {
    name: 'a release signed by a key the root does not vouch for',
    reason: 'unknown-key',
    send: async () => {
      const other = await generateKeyDir(await mkdtemp(join(tmpdir(), 'edgeml-rogue-')));
      return send({ ...signEnvelope(base(), other.release), releaseKey: signer.releaseKeyDoc });
    },
  },
  {
    name: 'a release tampered with after signing',
    reason: 'bad-signature',
    send: () => {
      const env = signRelease(base(), signer);
      env.signed.validation = { ...env.signed.validation, accuracy: 1 };
      return send(env);
    },
  },
  { name: 'an expired release', reason: 'expired', send: () => send(signRelease(base({ now: new Date(Date.now() - 3 * 86_400_000), expiresInDays: 1 }), signer)) },
  { name: 'a release for another model', reason: 'wrong-model', send: () => send(signRelease(base({ model: 'digits' }), signer)) },
  { name: 'a release for another channel', reason: 'wrong-channel', send: () => send(signRelease(base({ channel: 'beta' }), signer)) },
  {
    name: 'a replayed older version (not a rollback directive)',
    reason: 'rollback',
    send: () => send(signRelease(base({ version: 1, artifact: randomBytes(2048) }), signer)),
  },
  {
    name: 'an artifact whose bytes do not hash to the signed sha256',
    reason: 'hash-mismatch',
    send: async () => {
      // Chunk hashes of the real bytes, whole-file hash of other bytes: caught before install.
      const r = base();
      const artifact = { ...r.artifact, sha256: 'f'.repeat(64), chunkSize: c.artifact.length, chunks: chunkHashes(c.artifact, c.artifact.length) };
      await sendChunks(artifact, [c.artifact]);
      return send(signRelease({ ...r, artifact }, signer));
    },
  },
  {
    name: 'an artifact longer than its declared size',
    reason: 'size-mismatch',
    send: () => {
      const r = base();
      // The signed chunks are the real ones; the declared size is one byte short.
      return send(signRelease({ ...r, artifact: { ...r.artifact, size: r.artifact.size - 1 } }, signer));
    },
  },
  {
    name: 'endless data on a chunk topic',
    reason: 'size-mismatch',
    send: async () => {
      const bytes = randomBytes(4096);
      const r = base({ artifact: bytes, chunkSize: 4096 });
      await sendChunks(r.artifact, [Buffer.concat([bytes, randomBytes(1 << 20)])]);
      return send(signRelease(r, signer));
    },
  },
];

describe('attack table: the agent refuses and installs nothing', () => {
  it.each(attacks)('refuses $name ($reason)', async (attack) => {
    const before = agent.status().lastError;
    await attack.send();
    const s = await untilStatus(agent, `refusal ${attack.reason}`, (st) => st.lastError !== before && (st.lastError ?? '').includes(`${attack.reason}:`) && st.state !== 'downloading' && st.state !== 'verifying' && st.state !== 'rolling-back');
    await agent.idle();
    expect(s.version).toBe(1);
    expect(s.state).toBe('rolled-back');
    const state = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8'));
    expect(state.update).toBeNull();
    expect(state.slots[state.active]).toMatchObject({ version: 1 });
    expect(state.slots[state.active === 'a' ? 'b' : 'a']).toBeNull();
    const downloads = await readdir(join(dataDir, 'downloads')).catch(() => []);
    expect(downloads).toEqual([]);
    // Still serving the version it had.
    expect(agent.predictor.active?.release.version).toBe(1);
  });
});
