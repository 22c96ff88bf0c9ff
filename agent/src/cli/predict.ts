/**
 * `edgeml-agent predict` and `edgeml predict`: one row from the command line, through a model
 * loaded in this process (the installed one, or a model directory with the full CLI; offline)
 * or a running agent's API.
 */
import { checkFailed, userError } from '@edgeml/core';
import { InputError, type Prediction } from '@edgeml/runtime';
import type { BatchModel } from '../batch/runner.js';
import { createPipeline, predictRows } from '../serve/pipeline.js';

export interface PredictOptions {
  agentDir?: string;
  model?: string;
  url?: string;
  token?: string;
  row?: string;
  features?: string;
  json?: boolean;
}

interface Answer {
  model: string;
  version: number | string;
  prediction: Prediction & { id?: string };
}

/** Class labels in output order, to name every probability in the text output. */
type Labels = readonly string[] | undefined;

/** Loads the model the options name; `sources` are the flags that may name one, for usage errors. */
export type PredictModelLoader = (o: PredictOptions, sources: string[]) => Promise<BatchModel>;

export async function predict(o: PredictOptions, loadModel: PredictModelLoader, modelFlags: string[]): Promise<void> {
  const row = parseRow(o);
  let answer: Answer;
  let labels: Labels;
  if (o.url) {
    if (o.agentDir || o.model) throw userError('bad-usage', `give one of ${[...modelFlags, '--url'].join(', ')}, not several`);
    const token = o.token ?? process.env.EDGEML_API_TOKEN;
    answer = await viaApi(o.url, row, token);
    if (!o.json) labels = await labelsFromApi(o.url, token);
  } else {
    const model = await loadModel(o, [...modelFlags, '--url']);
    try {
      const [prediction] = predictRows(createPipeline(model.spec, model.runtime), [row]);
      answer = { model: model.name, version: model.version, prediction: prediction! };
      labels = model.spec.labels;
    } catch (e) {
      if (e instanceof InputError) throw userError('bad-input', e.message.replace(/^row 0: /, 'the row: '));
      throw e;
    } finally {
      model.runtime.dispose();
    }
  }
  if (o.json) process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
  else process.stdout.write(describe(answer, labels));
}

function parseRow(o: PredictOptions): unknown {
  if ((o.row === undefined) === (o.features === undefined)) throw userError('bad-usage', 'give the row with exactly one of --row or --features');
  if (o.features !== undefined) {
    const value = parseJson(o.features, '--features');
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw userError('bad-usage', '--features must be a JSON object of named features, e.g. \'{"a": 1.5}\'');
    return value;
  }
  const text = o.row!.trim();
  if (text.startsWith('[')) return parseJson(text, '--row');
  // Comma-separated: numbers become numbers; anything else stays text, so the model's check names it.
  return text.split(',').map((cell) => {
    const v = Number(cell);
    return cell.trim() === '' || Number.isNaN(v) ? cell.trim() : v;
  });
}

function parseJson(text: string, flag: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw userError('bad-usage', `${flag} is not valid JSON: ${(e as Error).message}`);
  }
}

async function viaApi(url: string, row: unknown, token: string | undefined): Promise<Answer> {
  const endpoint = `${url.replace(/\/+$/, '')}/v1/predict`;
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ row }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw userError('unreachable', `cannot reach the agent at ${endpoint}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string; model?: string; version?: number; predictions?: (Prediction & { id: string })[] };
  if (res.status >= 400 && res.status < 500) throw userError('bad-input', `the agent refused the row (${res.status}): ${body.error ?? res.statusText}`);
  if (!res.ok || !body.predictions?.[0]) throw checkFailed('agent-failed', `the agent could not predict (${res.status}): ${body.error ?? res.statusText}`);
  return { model: body.model!, version: body.version!, prediction: body.predictions[0] };
}

async function labelsFromApi(url: string, token: string | undefined): Promise<Labels> {
  try {
    const res = await fetch(`${url.replace(/\/+$/, '')}/v1/model`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5_000) });
    return ((await res.json()) as { spec?: { labels?: string[] } }).spec?.labels;
  } catch {
    return undefined;
  }
}

function describe(a: Answer, labels: Labels): string {
  const p = a.prediction;
  const lines: string[] = [];
  if ('label' in p) {
    lines.push(`${p.label}  (confidence ${p.probabilities[p.index]!.toFixed(3)})`);
    const order = p.probabilities.map((v, i) => [v, i] as const).sort((x, y) => y[0] - x[0]);
    const name = (i: number) => labels?.[i] ?? (i === p.index ? p.label : `class ${i}`);
    const width = Math.max(...order.slice(0, 5).map(([, i]) => name(i).length));
    for (const [v, i] of order.slice(0, 5)) lines.push(`  ${name(i).padEnd(width)}  ${v.toFixed(4)}`);
  } else {
    lines.push(String(Number(p.value.toPrecision(7))));
  }
  lines.push(`model ${a.model}, version ${a.version}${p.id ? `, prediction id ${p.id}` : ''}`);
  return lines.join('\n') + '\n';
}
