/**
 * The data of a retrain: the base dataset, split as a release splits it (its test split is
 * never trained on), plus the device feedback that passes validation for the model, deduplicated
 * by prediction id. The newest share of that feedback, by time, is the feedback holdout: never
 * trained on, it is where champion and challenger are compared. Refused feedback is counted by
 * reason and goes nowhere.
 */
import { canonicalJson, sha256Hex, type ModelSpec, type Task } from '@edgeml/core';
import { buildDataset, splitDataset, type CsvTable, type Dataset } from '@edgeml/ml';

/** One labelled row in the model's feature order, as trained on or evaluated. */
export interface LabelledRow {
  row: number[];
  label: string;
}

export interface FeedbackRow extends LabelledRow {
  deviceId: string;
  predictionId: string;
  model: string;
  /** When the device recorded the label (ISO). */
  at: string;
}

/** Why a stored feedback row is kept out of training: the label of the `/metrics` counter. */
export const FEEDBACK_REFUSALS = ['not-enrolled', 'model-not-enrolled', 'feature-count', 'not-finite', 'out-of-range', 'unknown-label', 'duplicate'] as const;
export type FeedbackRefusal = (typeof FEEDBACK_REFUSALS)[number];

/** What the rows must look like: the production spec's features and labels, the base data's ranges. */
export interface FeedbackRules {
  model: string;
  task: Task;
  features: number;
  labels: readonly string[] | undefined;
  /** Per feature, the lowest and highest value a row may hold. */
  ranges: readonly { min: number; max: number }[];
  /** Whether `deviceId` is enrolled for `model`: undefined when it is, else the refusal. */
  enrolment(deviceId: string): 'not-enrolled' | 'model-not-enrolled' | undefined;
}

export interface BaseSplit {
  features: string[];
  target: string;
  task: Task;
  labels: string[] | undefined;
  /** Train and validation rows: what a retrain trains on besides feedback. */
  train: LabelledRow[];
  /** The base test split: never trained on, the second figure of champion against challenger. */
  test: LabelledRow[];
  /** Per feature, the range the base data spans. */
  ranges: { min: number; max: number }[];
}

const rowsOf = (ds: Dataset): LabelledRow[] => {
  const f = ds.features.length;
  return Array.from({ length: ds.n }, (_, r) => ({
    row: Array.from(ds.x.subarray(r * f, (r + 1) * f)),
    label: ds.task === 'classification' ? ds.labels![ds.y[r]!]! : String(ds.y[r]!),
  }));
};

/** Split the base table with the release's seed, as `runPipeline` would. */
export function splitBase(table: CsvTable, o: { target: string; task?: Task; seed: number }): BaseSplit {
  const { dataset } = buildDataset(table, { target: o.target, ...(o.task ? { task: o.task } : {}) });
  const s = splitDataset(dataset, { seed: o.seed });
  const f = dataset.features.length;
  const ranges = Array.from({ length: f }, () => ({ min: Infinity, max: -Infinity }));
  for (let i = 0; i < dataset.x.length; i++) {
    const r = ranges[i % f]!;
    const v = dataset.x[i]!;
    if (v < r.min) r.min = v;
    if (v > r.max) r.max = v;
  }
  return {
    features: dataset.features,
    target: dataset.target,
    task: dataset.task,
    labels: dataset.labels,
    train: [...rowsOf(s.train), ...rowsOf(s.validation)],
    test: rowsOf(s.test),
    ranges,
  };
}

/** The ranges feedback may take: the base data's, widened by `slack` spans on either side. */
export function allowedRanges(base: BaseSplit['ranges'], slack: number): { min: number; max: number }[] {
  return base.map(({ min, max }) => {
    const span = Math.max(max - min, Math.abs(max), 1e-6);
    return { min: min - slack * span, max: max + slack * span };
  });
}

export function checkFeedback(r: FeedbackRow, rules: FeedbackRules): FeedbackRefusal | undefined {
  if (r.model !== rules.model) return 'model-not-enrolled';
  const enrol = rules.enrolment(r.deviceId);
  if (enrol) return enrol;
  if (r.row.length !== rules.features) return 'feature-count';
  for (const [j, v] of r.row.entries()) {
    if (!Number.isFinite(v)) return 'not-finite';
    const range = rules.ranges[j];
    if (range && (v < range.min || v > range.max)) return 'out-of-range';
  }
  if (rules.task === 'classification') {
    if (!rules.labels?.includes(r.label)) return 'unknown-label';
  } else if (!Number.isFinite(Number(r.label)) || r.label.trim() === '') return 'unknown-label';
  return undefined;
}

export interface FeedbackSet {
  train: FeedbackRow[];
  holdout: FeedbackRow[];
  refused: Partial<Record<FeedbackRefusal, number>>;
  /** Canonical JSON of the rows used (train and holdout): stored content-addressed, its sha256 in the lineage. */
  bytes: Buffer;
  sha256: string;
}

/**
 * Validate, deduplicate (the first label of a prediction id wins: a device repeating itself
 * gains nothing) and split by time: the newest `holdoutShare` is the holdout.
 */
export function assembleFeedback(rows: readonly FeedbackRow[], rules: FeedbackRules, holdoutShare: number): FeedbackSet {
  const refused: Partial<Record<FeedbackRefusal, number>> = {};
  const seen = new Set<string>();
  const valid: FeedbackRow[] = [];
  const ordered = [...rows].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  for (const r of ordered) {
    const why = checkFeedback(r, rules) ?? (seen.has(r.predictionId) ? 'duplicate' : undefined);
    if (why) {
      refused[why] = (refused[why] ?? 0) + 1;
      continue;
    }
    seen.add(r.predictionId);
    valid.push(r);
  }
  const cut = valid.length - Math.round(valid.length * holdoutShare);
  const train = valid.slice(0, cut);
  const holdout = valid.slice(cut);
  const bytes = Buffer.from(canonicalJson({ train, holdout }));
  return { train, holdout, refused, bytes, sha256: sha256Hex(bytes) };
}

/** The CSV a retrain trains on: base train and validation rows, then the training feedback. */
export function trainingCsv(base: BaseSplit, feedback: readonly LabelledRow[]): string {
  const quote = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = [[...base.features, base.target].map(quote).join(',')];
  for (const r of [...base.train, ...feedback]) lines.push([...r.row.map(String), quote(r.label)].join(','));
  return lines.join('\n') + '\n';
}

/** The rules feedback is judged by, from the production spec (or the base data when nothing is in production). */
export function rulesFor(model: string, base: BaseSplit, spec: ModelSpec | undefined, slack: number, enrolment: FeedbackRules['enrolment']): FeedbackRules {
  return {
    model,
    task: spec?.task ?? base.task,
    features: spec?.features.length ?? base.features.length,
    labels: spec ? spec.labels : base.labels,
    ranges: allowedRanges(base.ranges, slack),
    enrolment,
  };
}
