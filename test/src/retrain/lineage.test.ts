/** Every version has a lineage, hand releases included, written in the publish transaction. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeml } from '../helpers/cli.js';
import { irisModel, publishModel, startTestHub, type TestHub } from '../helpers/fleet.js';
import { join } from 'node:path';

let t: TestHub;
beforeAll(async () => {
  t = await startTestHub();
});
afterAll(async () => {
  await t?.stop();
});

describe('lineage of hand releases', () => {
  it('names the version a release replaces, and models diff names what changed', async () => {
    const c = await irisModel();
    await publishModel(t.hub, c);
    await publishModel(t.hub, c);
    expect(t.hub.registry.lineage.lineage('iris', 1)).toMatchObject({ parentVersion: null, trigger: { reason: 'release' }, runId: null, feedbackSha256: null });
    expect(t.hub.registry.lineage.lineage('iris', 2)).toMatchObject({ parentVersion: 1, trigger: { reason: 'release' } });
    const diff = await edgeml(['models', 'diff', 'iris', '1', '2', '--json', '--data-dir', join(t.dir, 'hub')]);
    expect(diff.code, diff.stderr).toBe(0);
    expect(JSON.parse(diff.stdout)).toEqual({ model: 'iris', a: 1, b: 2, changed: [{ field: 'lineage.parent', v1: 'null', v2: '1' }] });
    const missing = await edgeml(['models', 'diff', 'iris', '1', '9', '--data-dir', join(t.dir, 'hub')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no version 9 of model "iris"');
  });
});
