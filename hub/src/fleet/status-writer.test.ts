/**
 * The status writer runs from a timer: a registry locked by another writer (SQLITE_BUSY after
 * the registry's 5 s busy timeout) must leave the batch pending and retried, not throw out of
 * the timer and take the hub down.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceStatusSchema, silentLogger, type Logger } from '@edgeml/core';
import { Registry } from '../registry/registry.js';
import { StatusWriter } from './ingest.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeml-status-writer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const status = (deviceId: string) => DeviceStatusSchema.parse({ deviceId, online: true, state: 'active', model: 'iris', version: 1, sha256: 'a'.repeat(64), previousVersion: null, health: 'ok', lastError: null, updatedAt: new Date().toISOString() });

describe('StatusWriter', () => {
  it('keeps a batch the locked registry refused and stores it once the lock is gone', async () => {
    const file = join(dir, 'registry.sqlite');
    const registry = new Registry(file);
    const errors: string[] = [];
    const log: Logger = { ...silentLogger, error: (msg) => errors.push(msg) };
    const writer = new StatusWriter(registry, 5, log);
    const other = new Database(file);
    other.pragma('busy_timeout = 0');
    other.exec('BEGIN EXCLUSIVE');
    try {
      writer.add(status('d1'));
      writer.add(status('d2'));
      await waitUntil(() => errors.length > 0);
      expect(errors[0]).toMatch(/cannot store device statuses; retrying/);
      expect(registry.getDevice('d1')).toBeUndefined();
    } finally {
      other.exec('COMMIT');
      other.close();
    }
    await waitUntil(() => registry.getDevice('d1') !== undefined && registry.getDevice('d2') !== undefined);
    expect(registry.getDevice('d2')!.version).toBe(1);
    writer.close();
    registry.close();
  }, 30_000);
});

async function waitUntil(ok: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
