import { resolve } from 'node:path';
import { access } from 'node:fs/promises';
import { convergence, userError } from '@edgeml/core';
import { Registry } from '@edgeml/hub';
import { formatTable } from '../output/table.js';
import { lineageText, modelsDiff as diffVersions } from './lineage.js';
import { printJson } from './options.js';

async function openRegistry(dataDir: string): Promise<{ registry: Registry; file: string }> {
  const file = resolve(dataDir, 'registry.sqlite');
  await access(file).catch(() => {
    throw userError('no-registry', `no hub registry at ${file}; pass --data-dir`);
  });
  return { registry: new Registry(file), file };
}

/** `edgeml models diff MODEL A B`: what changed between two versions, lineage included. */
export async function modelsDiff(model: string, a: string, b: string, o: { dataDir: string; json?: boolean }): Promise<void> {
  const va = Number(a);
  const vb = Number(b);
  if (!Number.isInteger(va) || !Number.isInteger(vb)) throw userError('bad-usage', `versions are whole numbers, not "${a}" and "${b}"`);
  const { registry } = await openRegistry(o.dataDir);
  try {
    diffVersions(registry, model, va, vb, o.json === true);
  } finally {
    registry.close();
  }
}

export async function modelsShow(model: string, version: string | undefined, o: { dataDir: string; json?: boolean }): Promise<void> {
  const { registry, file } = await openRegistry(o.dataDir);
  try {
    let versions = registry.listVersions(model);
    if (version !== undefined) versions = versions.filter((v) => String(v.version) === version);
    if (versions.length === 0) throw userError('not-found', `no ${version ? `version ${version} of ` : ''}model "${model}" in ${file}`);
    // Each device against the version the hub wants it on.
    const devices = registry
      .listDevices()
      .filter((d) => d.model === model)
      .map((d) => {
        const want = registry.desired.forModelDevice(model, d.id);
        return { id: d.id, online: d.online, version: d.version, state: d.state, desiredVersion: want?.version ?? null, convergence: want ? convergence({ ...d, failedVersion: d.status.failedVersion }, want.version) : null };
      });
    const desired = [...registry.desired.all()].filter((d) => d.model === model && d.deviceId === null).map((d) => ({ channel: d.channel, version: d.version, kind: d.kind, since: d.updatedAt }));
    if (o.json) {
      printJson(versions.map(({ envelope, ...v }) => ({ ...v, release: envelope.signed, lineage: registry.lineage.lineage(model, v.version) ?? null, desiredOn: desired.filter((d) => d.version === v.version).map((d) => d.channel) })));
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
    // One version asked for: where it came from.
    if (version !== undefined) process.stdout.write(`\nlineage of v${versions[0]!.version}:\n${lineageText(registry.lineage.lineage(model, versions[0]!.version))}`);
    for (const d of desired) {
      const on = devices.filter((x) => x.desiredVersion !== null);
      const count = (c: string) => on.filter((x) => x.convergence === c).length;
      process.stdout.write(`\ndesired on ${d.channel}: v${d.version} (${d.kind === 'rollback' ? 'rollback directive' : d.kind}, since ${d.since}); devices: ${count('converged')} converged, ${count('pending')} pending, ${count('failed')} failed\n`);
    }
    const behind = devices.filter((x) => x.convergence !== null && x.convergence !== 'converged');
    if (behind.length) process.stdout.write(behind.map((x) => `  ${x.id}: ${x.convergence}, on v${x.version ?? '-'} (${x.online ? 'online' : 'offline'}), wants v${x.desiredVersion}`).join('\n') + '\n');
  } finally {
    registry.close();
  }
}
