/** Reading the release configs the hub retrains from: a bad file refuses the start, naming it. */
import { resolve } from 'node:path';
import { readJsonFile, userError } from '@edgeml/core';
import { RetrainPolicySchema, TrainingConfigSchema, type RetrainTarget } from './policy.js';

/** Release config fields a retraining run cannot honour. */
const UNSUPPORTED = ['categorical', 'impute', 'tflite'] as const;

export async function loadRetrainTargets(files: readonly string[]): Promise<RetrainTarget[]> {
  const targets: RetrainTarget[] = [];
  for (const f of files) {
    const configPath = resolve(f);
    const config = await readJsonFile(configPath, TrainingConfigSchema, 'release config');
    if (targets.some((t) => t.config.model === config.model)) throw userError('bad-usage', `two retraining configs for model "${config.model}"`);
    // Feedback carries a row's encoded features, not the text cells and gaps these fields describe,
    // and an imported .tflite has no training recipe: a run could not train what the config says.
    const unsupported = UNSUPPORTED.filter((k) => (config as Record<string, unknown>)[k] !== undefined);
    if (unsupported.length) throw userError('retrain-unsupported', `${configPath}: the hub cannot retrain a model whose config has ${unsupported.map((k) => `"${k}"`).join(', ')} (text columns, gap filling or an imported .tflite); release it from CI instead`);
    targets.push({ config, configPath, policy: config.retrain ?? RetrainPolicySchema.parse({ triggers: {} }) });
  }
  return targets;
}
