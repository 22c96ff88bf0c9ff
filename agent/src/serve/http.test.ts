/**
 * The local API against a real Predictor serving a real model (iris MLP on the wasm runtime):
 * every refusal with its status and a message naming the problem, metrics, feedback, and
 * adaptive batching under concurrent requests.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@edgeml/core';
import type { Feedback } from './feedback.js';
import { startApi, type Api } from './http.js';
import { trainIris, type IrisFixture } from './iris.fixture.js';
import { Predictor, type PredictResult, type Served } from './predictor.js';

let iris: IrisFixture;
let predictor: Predictor;
let api: Api;
let bare: Api;
let secured: Api;
const feedbacks: Feedback[] = [];
const served: Served[] = [];
let failFeedback = false;

beforeAll(async () => {
  iris = await trainIris();
  predictor = new Predictor();
  predictor.swap(await iris.load(1));
  predictor.observe((s) => served.push(s));
  const common = { host: '127.0.0.1', port: 0, log: silentLogger, health: () => ({ status: 'ok' }), maxBodyBytes: 4096 };
  api = await startApi({
    ...common,
    predictor,
    onFeedback: (f) => {
      if (failFeedback) throw new Error('disk full');
      feedbacks.push(f);
    },
  });
  bare = await startApi({ ...common, predictor: new Predictor(), processMetrics: false });
  secured = await startApi({ ...common, predictor, token: 's3cret', processMetrics: false });
});

afterAll(async () => {
  await Promise.all([api, bare, secured].map((a) => a?.close()));
  predictor?.swap(null)?.runtime.dispose();
});

const post = async (path: string, body: string | object, opts: { base?: string; headers?: Record<string, string> } = {}) => {
  const res = await fetch(`${opts.base ?? api.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...opts.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { error?: string } & Partial<PredictResult> & Record<string, unknown> };
};

const refusal = async (body: string | object, status: number, message: string | RegExp) => {
  const r = await post('/v1/predict', body);
  expect(r.status).toBe(status);
  expect(r.body.error).toMatch(message);
};

describe('POST /v1/predict', () => {
  it('predicts one row given as an array, with label, probabilities, version and an id', async () => {
    const r = await post('/v1/predict', { row: iris.rows[0] });
    expect(r.status).toBe(200);
    expect(r.body.model).toBe('iris');
    expect(r.body.version).toBe(1);
    const p = r.body.predictions![0] as { label: string; probabilities: number[]; id: string };
    expect(iris.features.length).toBe(4);
    expect(p.probabilities).toHaveLength(3);
    expect(p.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(p.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('gives the same answer for named features as for the array', async () => {
    const row = iris.rows[1]!;
    const named = Object.fromEntries(iris.features.map((f, j) => [f, row[j]]));
    const a = await post('/v1/predict', { row });
    const b = await post('/v1/predict', { row: named });
    expect(b.status).toBe(200);
    expect((b.body.predictions![0] as { probabilities: number[] }).probabilities).toEqual((a.body.predictions![0] as { probabilities: number[] }).probabilities);
  });

  it('predicts a batch, one prediction per row, mostly right on the test split', async () => {
    const r = await post('/v1/predict', { rows: iris.rows });
    expect(r.status).toBe(200);
    const labels = r.body.predictions!.map((p) => (p as { label: string }).label);
    expect(labels).toHaveLength(iris.rows.length);
    const right = labels.filter((l, i) => l === iris.labels[i]).length;
    expect(right / labels.length).toBeGreaterThanOrEqual(0.8);
    expect(new Set(r.body.predictions!.map((p) => p.id)).size).toBe(iris.rows.length);
  });

  describe('refuses bad input with a 4xx naming the problem', () => {
    const cases: [string, () => string | object, number, RegExp][] = [
      ['too few values', () => ({ row: [1, 2, 3] }), 422, /row 0: has 3 values, the model takes 4/],
      ['too many values in a batch row', () => ({ rows: [iris.rows[0], [1, 2, 3, 4, 5]] }), 422, /row 1: has 5 values, the model takes 4/],
      ['an unknown feature name', () => ({ row: { ...named(0), colour: 3 } }), 422, /row 0: unknown feature "colour"/],
      ['a missing feature', () => ({ row: { sepal_length: 1, sepal_width: 2, petal_length: 3 } }), 422, /row 0: feature "petal_width" is missing/],
      ['a string value', () => ({ row: [1, 'abc', 3, 4] }), 422, /feature "sepal_width" is string, not a number/],
      ['the string "NaN"', () => ({ row: { ...named(0), petal_length: 'NaN' } }), 422, /feature "petal_length" is string, not a number/],
      ['null', () => ({ row: [1, 2, null, 4] }), 422, /feature "petal_length" is null/],
      ['a number too large for a double (Infinity)', () => '{"row": [1, 2, 3, 1e999]}', 422, /feature "petal_width" is Infinity, not a finite number/],
      ['a literal NaN (not JSON)', () => '{"row": [1, 2, NaN, 4]}', 400, /not valid JSON/],
      ['a row that is a number', () => ({ row: 5 }), 422, /row 0: expected an array of 4 numbers or an object/],
      ['a batch sent as one row', () => ({ row: [iris.rows[0], iris.rows[1]] }), 422, /row 0: nested arrays of shape \[2, 4\].*send several rows as \{"rows"/],
      ['a 3-d row', () => ({ rows: [[[[1, 2], [3, 4]]]] }), 422, /row 0: nested arrays of shape \[1, 2, 2\]/],
      ['truncated JSON', () => '{"row": [1, 2', 400, /body is not valid JSON/],
      ['an empty body', () => '', 400, /no body/],
      ['a JSON array body', () => [iris.rows[0]], 400, /body must be a JSON object with "row"/],
      ['neither row nor rows', () => ({ data: [1, 2, 3, 4] }), 400, /unknown field "data"/],
      ['both row and rows', () => ({ row: iris.rows[0], rows: [iris.rows[0]] }), 400, /either "row" or "rows"/],
      ['rows that is not an array', () => ({ rows: { a: 1 } }), 400, /"rows" must be an array/],
      ['an empty batch', () => ({ rows: [] }), 400, /"rows" is empty/],
    ];
    const named = (i: number) => Object.fromEntries(iris.features.map((f, j) => [f, iris.rows[i]![j]]));
    it.each(cases)('%s', async (_name, body, status, message) => refusal(body(), status, message));
  });

  it('refuses a body over the limit with 413, declared or streamed', async () => {
    const big = JSON.stringify({ rows: Array.from({ length: 200 }, () => iris.rows[0]) });
    expect(big.length).toBeGreaterThan(4096);
    const declared = await post('/v1/predict', big);
    expect(declared.status).toBe(413);
    expect(declared.body.error).toMatch(/exceeds the limit of 4096 bytes/);
    // Chunked, without a content-length: the limit is enforced while reading.
    const streamed = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest(`${api.url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write(big.slice(i * 1000, (i + 1) * 1000));
      req.end(big.slice(10_000));
    });
    expect(streamed.status).toBe(413);
    expect(streamed.text).toMatch(/exceeds the limit/);
  });

  it('answers 503 naming the reason when no model is installed', async () => {
    const r = await post('/v1/predict', { row: [1, 2, 3, 4] }, { base: bare.url });
    expect(r.status).toBe(503);
    expect(r.body.error).toMatch(/no model is installed/);
    expect((await fetch(`${bare.url}/v1/model`)).status).toBe(503);
  });

  it('shrugs off a client that disconnects halfway through its body', async () => {
    const { connect } = await import('node:net');
    const { port } = new URL(api.url);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write('POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"row": [1,');
        setTimeout(() => socket.destroy(), 50);
      });
      socket.on('close', () => resolve());
    });
    await new Promise((r) => setTimeout(r, 50));
  });

  it('still serves after every refusal above', async () => {
    expect((await post('/v1/predict', { row: iris.rows[0] })).status).toBe(200);
  });
});

describe('routes, methods and the token', () => {
  it('answers 404 for an unknown route and 405 with Allow for a wrong method', async () => {
    const missing = await fetch(`${api.url}/v2/predict`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toMatch(/no route \/v2\/predict/);
    const wrong = await fetch(`${api.url}/v1/predict`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect(((await wrong.json()) as { error: string }).error).toMatch(/\/v1\/predict takes POST, not GET/);
    expect((await fetch(`${api.url}/v1/health`, { method: 'DELETE' })).status).toBe(405);
  });

  it('serves health and the model description', async () => {
    expect(await (await fetch(`${api.url}/v1/health`)).json()).toEqual({ status: 'ok' });
    const m = (await (await fetch(`${api.url}/v1/model?verbose=1`)).json()) as Record<string, unknown>;
    expect(m).toMatchObject({ model: 'iris', version: 1, format: 'tfjs-layers', runtime: 'tfjs-wasm' });
    expect((m.spec as { features: string[] }).features).toEqual(iris.features);
  });

  it('refuses a missing or wrong bearer token with 401 on every route, and accepts the right one', async () => {
    for (const path of ['/v1/health', '/v1/model', '/metrics', '/nowhere']) {
      const r = await fetch(`${secured.url}${path}`);
      expect(r.status, path).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
    }
    expect((await post('/v1/predict', { row: iris.rows[0] }, { base: secured.url, headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const ok = await post('/v1/predict', { row: iris.rows[0] }, { base: secured.url, headers: { authorization: 'Bearer s3cret' } });
    expect(ok.status).toBe(200);
  });
});

describe('POST /v1/feedback', () => {
  it('accepts a known label for a prediction id with 202 and hands it on with the serving version', async () => {
    const p = await post('/v1/predict', { row: iris.rows[0] });
    const id = p.body.predictions![0]!.id;
    const r = await post('/v1/feedback', { predictionId: id, label: iris.labels[0] });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: true, predictionId: id });
    expect(feedbacks.at(-1)).toMatchObject({ predictionId: id, label: iris.labels[0], model: 'iris', version: 1 });
    expect(Date.parse(feedbacks.at(-1)!.receivedAt)).toBeGreaterThan(0);
  });

  const id = '0b6f7c58-8a3e-4a53-9d55-0a8f0f6c2b11';
  const cases: [string, unknown, number, RegExp][] = [
    ['a label the model does not have', { predictionId: id, label: 'rose' }, 422, /"label" "rose" is not a class of the model \("setosa", /],
    ['a label that is not a string', { predictionId: id, label: 2 }, 400, /"label" must be one of the model's class labels as a string, not a number/],
    ['an id that is not a prediction id', { predictionId: 'abc', label: 'setosa' }, 422, /"predictionId" "abc" is not a prediction id/],
    ['an id that is not a string', { predictionId: 7, label: 'setosa' }, 400, /"predictionId" must be a string/],
    ['no id', { label: 'setosa' }, 400, /"predictionId" is missing/],
    ['no label', { predictionId: id }, 400, /"label" is missing/],
    ['an unknown field', { predictionId: id, label: 'setosa', note: 'x' }, 400, /unknown field "note"/],
    ['an array body', [id, 'setosa'], 400, /body must be a JSON object/],
  ];
  it.each(cases)('refuses %s', async (_name, body, status, message) => {
    const before = feedbacks.length;
    const r = await post('/v1/feedback', body as object);
    expect(r.status).toBe(status);
    expect(r.body.error).toMatch(message);
    expect(feedbacks.length).toBe(before);
  });

  it('refuses bad JSON with 400 and answers 503 when the feedback cannot be recorded', async () => {
    expect((await post('/v1/feedback', '{"predictionId": ')).status).toBe(400);
    failFeedback = true;
    try {
      const r = await post('/v1/feedback', { predictionId: id, label: 'setosa' });
      expect(r.status).toBe(503);
      expect(r.body.error).toMatch(/could not be recorded: disk full/);
    } finally {
      failFeedback = false;
    }
  });
});

describe('GET /metrics', () => {
  it('exposes request counts, latency, rows, the model version and process metrics in Prometheus text format', async () => {
    await post('/v1/predict', { rows: iris.rows.slice(0, 5) });
    await post('/v1/predict', { row: [1] });
    const res = await fetch(`${api.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (re: RegExp) => Number(re.exec(text)?.[1]);
    expect(value(/^edgeml_http_requests_total\{route="\/v1\/predict",status="200"\} (\d+)$/m)).toBeGreaterThanOrEqual(2);
    expect(value(/^edgeml_http_requests_total\{route="\/v1\/predict",status="422"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^edgeml_http_requests_total\{route="other",status="404"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^edgeml_rows_predicted_total (\d+)$/m)).toBeGreaterThanOrEqual(5);
    expect(value(/^edgeml_predict_rejected_total (\d+)$/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^edgeml_predict_duration_seconds_count (\d+)$/m)).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/^edgeml_predict_duration_seconds_bucket\{le="0\.001"\} \d+$/m);
    expect(text).toMatch(/^edgeml_model_info\{model="iris",version="1",format="tfjs-layers",runtime="tfjs-wasm"\} 1$/m);
    expect(text).toMatch(/^edgeml_model_version 1$/m);
    expect(text).toMatch(/^edgeml_feedback_total \d+$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });
});

describe('adaptive batching', () => {
  it('gives each of many concurrent requests its own rows, fails only the bad ones, and merges runtime calls', async () => {
    const reference = (await post('/v1/predict', { rows: iris.rows })).body.predictions as { label: string; probabilities: number[] }[];
    const n = 60;
    // Open the client's connections first: requests on new connections arrive one pass apart.
    await Promise.all(Array.from({ length: n }, () => fetch(`${api.url}/v1/health`).then((r) => r.text())));
    const before = served.length;
    const bodies = Array.from({ length: n }, (_, i) => {
      if (i % 13 === 5) return { i, body: { row: [1, 2, 'x', 4] }, bad: true };
      const k = i % iris.rows.length;
      const rows = [iris.rows[k]!, iris.rows[(k + 1) % iris.rows.length]!];
      return { i, body: { rows }, bad: false, k };
    });
    const results = await Promise.all(bodies.map(async (b) => ({ ...b, res: await post('/v1/predict', b.body) })));
    for (const r of results) {
      if (r.bad) {
        expect(r.res.status).toBe(422);
        expect(r.res.body.error).toMatch(/feature "petal_length" is string/);
        continue;
      }
      expect(r.res.status).toBe(200);
      const got = r.res.body.predictions as { label: string; probabilities: number[] }[];
      expect(got).toHaveLength(2);
      got.forEach((p, j) => {
        const want = reference[(r.k! + j) % iris.rows.length]!;
        expect(p.label).toBe(want.label);
        p.probabilities.forEach((v, c) => expect(v).toBeCloseTo(want.probabilities[c]!, 5));
      });
    }
    // The predictor's observers saw every request, merged or not.
    expect(served.length - before).toBe(n);
    expect(served.slice(before).filter((s) => s.rejected)).toHaveLength(results.filter((r) => r.bad).length);
    const text = await (await fetch(`${api.url}/metrics`)).text();
    expect(Number(/^edgeml_predict_merged_requests_count (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
  });
});
