/**
 * `edgeml retrain`: continuous training. The labelled rows devices sent back (feedback) are
 * added to the release config's training data and the release runs again: same gates, same
 * signing, and a new version only when the data really changed.
 */
import { dirname, join, resolve } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { readJsonFile, userError, writeFileAtomic } from '@edgeml/core';
import { readCsvFile } from '@edgeml/ml';
import { hubRequest, type HubFlags } from './hub-client.js';
import { ReleaseConfigSchema, release } from './release.js';

export async function retrain(model: string, o: HubFlags & { config: string; json?: boolean; hubFromConfig: boolean }): Promise<void> {
  const configPath = resolve(o.config);
  const config = await readJsonFile(configPath, ReleaseConfigSchema, 'release config');
  if (config.model !== model) throw userError('bad-usage', `${o.config} releases model "${config.model}", not "${model}"`);
  // Feedback carries a row's encoded features: for text columns they are codes, not the categories the CSV holds.
  if (config.categorical) throw userError('retrain-unsupported', `${o.config} encodes text columns ("categorical"); retraining from device feedback does not support them yet`);
  const hub: HubFlags = { ...o, hub: o.hubFromConfig ? config.hub : o.hub };
  const rows = (await hubRequest<{ row: number[]; label: string }[]>(hub, 'GET', `/v1/models/${encodeURIComponent(model)}/feedback`)).body;
  const table = await readCsvFile(resolve(dirname(configPath), config.data));
  const features = table.header.filter((h) => h !== config.target);
  const merged = [
    table.header,
    ...table.rows,
    ...rows.map(({ row, label }) => {
      if (row.length !== features.length) throw userError('feedback-mismatch', `a feedback row has ${row.length} values; ${config.data} has ${features.length} features`);
      return table.header.map((h) => (h === config.target ? label : String(row[features.indexOf(h)])));
    }),
  ];
  const out = join(resolve(dirname(configPath), config.out, model), 'retrain-data.csv');
  await writeFileAtomic(out, stringify(merged));
  process.stderr.write(`retraining ${model} on ${table.rows.length} rows of ${config.data} and ${rows.length} labelled rows from devices (${out})\n`);
  await release({ config: o.config, ...(hub.token ? { token: hub.token } : {}), ...(hub.dataDir ? { dataDir: hub.dataDir } : {}), hub: hub.hub, ...(o.json ? { json: true } : {}), dataOverride: out });
}
