/** Reading the release configs the hub retrains from: a bad file refuses the start, naming it. */
import { resolve } from 'node:path';
import { readJsonFile, userError } from '@edgeml/core';
import { RetrainPolicySchema, TrainingConfigSchema, type RetrainTarget } from './policy.js';

export async function loadRetrainTargets(files: readonly string[]): Promise<RetrainTarget[]> {
  const targets: RetrainTarget[] = [];
  for (const f of files) {
    const configPath = resolve(f);
    const config = await readJsonFile(configPath, TrainingConfigSchema, 'release config');
    if (targets.some((t) => t.config.model === config.model)) throw userError('bad-usage', `two retraining configs for model "${config.model}"`);
    targets.push({ config, configPath, policy: config.retrain ?? RetrainPolicySchema.parse({ triggers: {} }) });
  }
  return targets;
}
