import { resolve } from 'node:path';
import { access } from 'node:fs/promises';
import { userError } from '@edgeml/core';
import { Registry } from '@edgeml/hub';
import { formatTable } from '../output/table.js';
import { printJson } from './options.js';

export async function modelsShow(model: string, version: string | undefined, o: { dataDir: string; json?: boolean }): Promise<void> {
  const file = resolve(o.dataDir, 'registry.sqlite');
  await access(file).catch(() => {
    throw userError('no-registry', `no hub registry at ${file}; pass --data-dir`);
  });
  const registry = new Registry(file);
  try {
    let versions = registry.listVersions(model);
    if (version !== undefined) versions = versions.filter((v) => String(v.version) === version);
    if (versions.length === 0) throw userError('not-found', `no ${version ? `version ${version} of ` : ''}model "${model}" in ${file}`);
    if (o.json) {
      printJson(versions.map(({ envelope, ...v }) => ({ ...v, release: envelope.signed })));
      return;
    }
    process.stdout.write(
      formatTable(
        ['version', 'channel', 'format', 'size', 'sha256', 'figures', 'status', 'created'],
        versions.map((v) => [
          v.version,
          v.channel,
          v.format,
          v.sizeBytes,
          v.sha256.slice(0, 12),
          Object.entries(v.metrics)
            .filter(([, x]) => typeof x === 'number')
            .map(([k, x]) => `${k}=${Number.isInteger(x) ? x : (x as number).toFixed(4)}`)
            .join(' '),
          v.status,
          v.createdAt,
        ]),
      ) + '\n',
    );
  } finally {
    registry.close();
  }
}
