/**
 * A real agent process on a real broker: predictions keep flowing while a new version is
 * installed, the local API answers `edgeml predict --url` and /metrics, and once the hub and
 * its broker are gone the installed model still serves batch inference from the data dir.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPipeline, type Candidate } from '@edgeml/hub';
import { deviceRuntimes, type AgentProcess } from 'edgeml';
import { dataFile, edgeml } from '../helpers/cli.js';
import { irisModel, publishModel, spawnTestAgent, startTestHub, waitFor, type TestHub } from '../helpers/fleet.js';

let dir: string;
let t: TestHub;
let hubStopped = false;
let agent: AgentProcess;
let v1: Candidate;
let v2: Candidate;

const modelVersion = async (url: string) => ((await (await fetch(`${url}/v1/model`)).json()) as { version?: number }).version;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-device-'));
  t = await startTestHub({}, dir);
  v1 = await irisModel();
  v2 = await runPipeline({ data: dataFile('iris.csv'), target: 'species', arch: 'mlp', seed: 43, runtimes: deviceRuntimes() });
  await publishModel(t.hub, v1);
  agent = await spawnTestAgent(t, 'pi-1');
  await waitFor('the agent to serve version 1', async () => ((await modelVersion(await agent.apiUrl())) === 1 ? true : undefined), 60_000);
});

afterAll(async () => {
  await agent?.stop();
  if (!hubStopped) await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('a device agent', () => {
  it('serves every request while a new version is installed, switching from version 1 to 2', async () => {
    const url = await agent.apiUrl();
    const f = v1.training.spec.features.length;
    const rows = Array.from({ length: 10 }, (_, r) => Array.from(v1.splits.test.x.subarray(r * f, (r + 1) * f)));
    const failures: string[] = [];
    const seen: number[][] = [];
    let stop = false;
    let sawV2At = 0;
    const worker = async (w: number) => {
      const versions: number[] = (seen[w] = []);
      for (let i = 0; !stop; i++) {
        try {
          const res = await fetch(`${url}/v1/predict`, { method: 'POST', body: JSON.stringify(i % 2 ? { row: rows[i % 10] } : { rows }) });
          const body = (await res.json()) as { version: number; predictions: unknown[]; error?: string };
          if (res.status !== 200) failures.push(`${res.status} ${body.error}`);
          else if (body.predictions.length !== (i % 2 ? 1 : 10)) failures.push(`wrong number of predictions: ${body.predictions.length}`);
          else versions.push(body.version);
          if (body.version === 2) sawV2At ||= Date.now();
        } catch (e) {
          failures.push(String(e));
        }
      }
    };
    const workers = Array.from({ length: 6 }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, 300));
    await publishModel(t.hub, v2);
    await waitFor('responses from version 2', () => (sawV2At && Date.now() - sawV2At > 500 ? true : undefined), 60_000, 20);
    stop = true;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    const all = seen.flat();
    expect(all.length).toBeGreaterThan(50);
    expect(all).toContain(1);
    expect(all).toContain(2);
    // Each client sees the switch once: never version 1 again after version 2.
    for (const versions of seen) expect(versions.indexOf(1, versions.indexOf(2) === -1 ? Infinity : versions.indexOf(2))).toBe(-1);
  });

  it('answers edgeml predict --url and reports the new version on /metrics', async () => {
    const url = await agent.apiUrl();
    const r = await edgeml(['predict', '--url', url, '--row', '6.7,3.0,5.2,2.3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ model: 'iris', version: 2, prediction: { label: 'virginica' } });
    expect(out.prediction.id).toMatch(/^[0-9a-f-]{36}$/);
    const bad = await edgeml(['predict', '--url', url, '--row', '1,2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('edgeml: the agent refused the row (422): row 0: has 2 values, the model takes 4 (sepal_length, sepal_width, petal_length, petal_width)\n');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^edgeml_model_info\{model="iris",version="2",format="[^"]+",runtime="[^"]+"\} 1$/m);
    expect(Number(/^edgeml_http_requests_total\{route="\/v1\/predict",status="200"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(50);
  });

  it('runs batch inference from its data dir with the broker gone, and refuses a tampered model', async () => {
    await t.stop();
    hubStopped = true;
    const input = join(dir, 'rows.csv');
    await writeFile(input, (await readFile(dataFile('iris.csv'), 'utf8')).replace(/\r\n/g, '\n'));
    const out = join(dir, 'rows.out.csv');
    const r = await edgeml(['batch', '--agent-dir', agent.dir, '--in', input, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^done: 150 rows predicted, 0 bad, of 150 read/);
    expect(r.stdout).toContain('model iris, version 2');
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(151);
    const right = lines.slice(1).filter((l) => {
      const c = l.split(',');
      return c[5] === c[6];
    }).length;
    expect(right / 150).toBeGreaterThan(0.85);
    expect(lines.slice(1).every((l) => l.endsWith(',iris,2'))).toBe(true);

    const one = await edgeml(['predict', '--agent-dir', agent.dir, '--row', '5.1,3.5,1.4,0.2']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/^setosa /);

    // A copy of the data dir with one byte of the active model flipped.
    const copy = join(dir, 'tampered');
    await cp(agent.dir, copy, { recursive: true, filter: (src) => !src.includes('downloads') });
    const state = JSON.parse(await readFile(join(copy, 'state.json'), 'utf8')) as { active: string };
    const bin = join(copy, 'slots', state.active, 'model.bin');
    const bytes = await readFile(bin);
    bytes[bytes.length - 1]! ^= 0xff;
    await writeFile(bin, bytes);
    const tampered = await edgeml(['batch', '--agent-dir', copy, '--in', input, '--out', join(dir, 'x.csv')]);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/model\.bin has sha256 [0-9a-f]{64}, the signed release of version 2 says [0-9a-f]{64}/);
  });
});
