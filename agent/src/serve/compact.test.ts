/**
 * The compact body of POST /v1/predict (float32 rows in, float32 outputs out) against a real
 * Predictor serving a real model: the same answers as the JSON path, every refusal with its
 * status and code, telemetry seeing the rows, and the bound on requests in progress.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@edgeml/core';
import { startApi, type Api } from './http.js';
import { trainIris, type IrisFixture } from './iris.fixture.js';
import { Predictor, type PredictResult, type Served } from './predictor.js';

let iris: IrisFixture;
let predictor: Predictor;
let api: Api;
let narrow: Api;
const served: Served[] = [];

beforeAll(async () => {
  iris = await trainIris();
  predictor = new Predictor();
  predictor.swap(await iris.load(1));
  predictor.observe((s) => served.push(s));
  const common = { host: '127.0.0.1', port: 0, log: silentLogger, health: () => ({ status: 'ok' }), maxBodyBytes: 4096, processMetrics: false };
  api = await startApi({ ...common, predictor });
  narrow = await startApi({ ...common, predictor, maxInFlight: 1 });
});

afterAll(async () => {
  await Promise.all([api, narrow].map((a) => a?.close()));
  predictor?.swap(null)?.runtime.dispose();
});

const f32 = (rows: number[][]) => Buffer.from(Float32Array.from(rows.flat()).buffer);

const postCompact = async (body: Buffer, headers: Record<string, string> = { 'x-edgeml-features': '4' }, base = api.url) => {
  const res = await fetch(`${base}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', ...headers }, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, bytes };
};

describe('compact predict body', () => {
  it('answers float32 probabilities equal to the JSON path, with the row and output counts in headers', async () => {
    const rows = iris.rows.slice(0, 20);
    const r = await postCompact(f32(rows));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    expect(r.headers.get('x-edgeml-rows')).toBe('20');
    expect(r.headers.get('x-edgeml-outputs')).toBe('3');
    expect(r.headers.get('x-edgeml-model')).toBe('iris');
    expect(r.headers.get('x-edgeml-version')).toBe('1');
    expect(r.bytes.length).toBe(20 * 3 * 4);
    const got = Array.from({ length: 20 }, (_, i) => [0, 1, 2].map((c) => r.bytes.readFloatLE((i * 3 + c) * 4)));
    const json = (await (await fetch(`${api.url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rows }) })).json()) as PredictResult;
    expect(got).toEqual(json.predictions.map((p) => ('probabilities' in p ? p.probabilities : [])));
  });

  it('answers a body split at odd byte offsets, and many requests whose bodies arrive interleaved, each with its own rows', async () => {
    const alone = async (rows: number[][]) => (await postCompact(f32(rows))).bytes;
    // Each request's bytes go out in pieces split inside float32 values, the requests' pieces
    // taking turns on their own connections, so every body is in flight at once.
    const sets = Array.from({ length: 6 }, (_, i) => Array.from({ length: 3 + i }, (_, r) => iris.rows[(i * 5 + r) % iris.rows.length]!));
    const open = sets.map((rows) => {
      const body = f32(rows);
      const req = httpRequest(`${api.url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'x-edgeml-features': '4', 'content-length': String(body.length) } });
      const answer = new Promise<{ status: number; bytes: Buffer }>((resolve, reject) => {
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks) }));
        });
        req.on('error', reject);
      });
      return { req, body, answer };
    });
    const cuts = [0, 3, 9, 22, 41];
    for (let k = 1; k < cuts.length; k++) {
      for (const o of open) o.req.write(o.body.subarray(cuts[k - 1], cuts[k]));
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const o of open) o.req.end(o.body.subarray(cuts.at(-1)));
    for (let i = 0; i < sets.length; i++) {
      const got = await open[i]!.answer;
      expect(got.status, got.bytes.toString('utf8').slice(0, 200)).toBe(200);
      expect(got.bytes.equals(await alone(sets[i]!))).toBe(true);
    }
  });

  it('counts the rows in telemetry (inputs standardised, no prediction ids)', async () => {
    served.length = 0;
    await postCompact(f32(iris.rows.slice(0, 7)));
    expect(served).toHaveLength(1);
    expect(served[0]).toMatchObject({ rows: 7, ok: true, version: 1 });
    expect(served[0]!.inputs).toHaveLength(7 * 4);
    expect(served[0]!.predictions).toBeUndefined();
  });

  it.each([
    ['no feature count', f32([[1, 2, 3, 4]]), {}, 400, 'missing-feature-count', /needs the x-edgeml-features header/],
    ['a feature count that is not a number', f32([[1, 2, 3, 4]]), { 'x-edgeml-features': 'four' }, 400, 'bad-feature-count', /must be a whole number/],
    ['the wrong feature count', f32([[1, 2, 3]]), { 'x-edgeml-features': '3' }, 422, 'wrong-feature-count', /is 3; the model takes 4 features per row/],
    ['a body that is not whole rows', Buffer.alloc(4 * 4 + 2), { 'x-edgeml-features': '4' }, 400, 'wrong-length', /18 bytes, not a whole number of rows of 4 float32 values/],
    ['an empty body', Buffer.alloc(0), { 'x-edgeml-features': '4' }, 400, 'empty-body', /body is empty/],
    ['NaN', f32([[1, 2, 3, 4], [1, NaN, 3, 4]]), { 'x-edgeml-features': '4' }, 422, 'not-finite', /row 1, feature 1: NaN is not a finite number/],
    ['Infinity', f32([[1, 2, 3, -Infinity]]), { 'x-edgeml-features': '4' }, 422, 'not-finite', /row 0, feature 3: -Infinity/],
    ['a body over the limit', Buffer.alloc(4096 + 16), { 'x-edgeml-features': '4' }, 413, 'too-large', /exceeds the limit of 4096 bytes \(256 rows\)/],
  ])('refuses %s with a named error', async (_what, body, headers, status, code, message) => {
    const r = await postCompact(body, headers);
    expect(r.status).toBe(status);
    const answer = JSON.parse(r.bytes.toString('utf8')) as { error: string; code: string };
    expect(answer.code).toBe(code);
    expect(answer.error).toMatch(message);
  });

  it('answers 503 with Retry-After past the requests in progress, and serves again after', async () => {
    // One request holds the only slot while its body trickles in.
    const held = httpRequest(`${narrow.url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'x-edgeml-features': '4', 'content-length': '16' } });
    const first = new Promise<number>((resolve, reject) => {
      held.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      held.on('error', reject);
    });
    held.write(Buffer.alloc(8));
    // Wait until the server has taken the first request in (it asks for no more than headers).
    let r = await postCompact(f32([[1, 2, 3, 4]]), undefined, narrow.url);
    for (let i = 0; r.status !== 503 && i < 200; i++) {
      await new Promise((ok) => setTimeout(ok, 25));
      r = await postCompact(f32([[1, 2, 3, 4]]), undefined, narrow.url);
    }
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('1');
    held.end(Buffer.from(new Float32Array([5, 3, 1, 0.2]).buffer.slice(8)));
    expect(await first).toBe(200);
    expect((await postCompact(f32([[1, 2, 3, 4]]), undefined, narrow.url)).status).toBe(200);
  });
});
