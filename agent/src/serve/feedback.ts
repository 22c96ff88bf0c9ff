/**
 * Feedback: the true label of an earlier prediction, sent by the application once it knows it.
 * Checked here against the serving model's spec; what happens to it next (the durable
 * telemetry path to the hub) is the caller's `onFeedback`.
 */
import type { ModelSpec } from '@edgeml/core';

export interface Feedback {
  /** The `id` the agent returned with the prediction. */
  predictionId: string;
  /** A class label of the model (classification) or the true value (regression). */
  label: string | number;
  /** The model serving when the feedback arrived. */
  model: string;
  version: number;
  receivedAt: string;
}

export type FeedbackCheck = { ok: true; value: Pick<Feedback, 'predictionId' | 'label'> } | { ok: false; status: 400 | 422; error: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** 400 for a body of the wrong structure, 422 for well-formed values the model cannot take. */
export function checkFeedback(body: unknown, spec: ModelSpec): FeedbackCheck {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, status: 400, error: 'body must be a JSON object {"predictionId": "...", "label": ...}' };
  }
  const b = body as Record<string, unknown>;
  const extra = Object.keys(b).filter((k) => k !== 'predictionId' && k !== 'label');
  if (extra.length) return { ok: false, status: 400, error: `unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')}; feedback has "predictionId" and "label"` };
  if (!('predictionId' in b)) return { ok: false, status: 400, error: '"predictionId" is missing' };
  if (!('label' in b)) return { ok: false, status: 400, error: '"label" is missing' };
  const id = b.predictionId;
  if (typeof id !== 'string') return { ok: false, status: 400, error: `"predictionId" must be a string, not ${describe(id)}` };
  if (!UUID.test(id)) return { ok: false, status: 422, error: `"predictionId" ${JSON.stringify(id.slice(0, 80))} is not a prediction id (a UUID as /v1/predict returns)` };
  const label = b.label;
  if (spec.task === 'classification') {
    const labels = spec.labels ?? [];
    if (typeof label !== 'string') return { ok: false, status: 400, error: `"label" must be one of the model's class labels as a string, not ${describe(label)}` };
    if (!labels.includes(label)) {
      const shown = labels.slice(0, 20).map((l) => JSON.stringify(l)).join(', ');
      return { ok: false, status: 422, error: `"label" ${JSON.stringify(label.slice(0, 80))} is not a class of the model (${shown}${labels.length > 20 ? ', ...' : ''})` };
    }
    return { ok: true, value: { predictionId: id.toLowerCase(), label } };
  }
  if (typeof label !== 'number') return { ok: false, status: 400, error: `"label" must be the true value as a number, not ${describe(label)}` };
  if (!Number.isFinite(label)) return { ok: false, status: 422, error: '"label" must be a finite number' };
  return { ok: true, value: { predictionId: id.toLowerCase(), label } };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `the string ${JSON.stringify(v.slice(0, 40))}` : `${typeof v === 'object' ? 'an' : 'a'} ${typeof v}`;
}
