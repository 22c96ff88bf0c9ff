/**
 * tfjs loads on first use, not with the package: a device process that serves TFLite imports
 * @edgeml/ml for preprocessing and the runtime interface and must not carry tfjs. Checked in a
 * fresh process on the built package, as a device runs it.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

/** Which @tensorflow packages a fresh process has loaded after `script`. */
function tensorflowModules(script: string): string[] {
  const code = `
    import { createRequire } from 'node:module';
    const ml = await import(${JSON.stringify(dist)});
    ${script}
    const cache = createRequire(import.meta.url).cache;
    const names = new Set(Object.keys(cache).map((p) => /node_modules\\/(@tensorflow\\/[^/]+)/.exec(p)?.[1]).filter(Boolean));
    process.stdout.write(JSON.stringify([...names].sort()));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' })) as string[];
}

describe('tfjs loading', () => {
  it('does not load tfjs when the package is imported', () => {
    expect(tensorflowModules('')).toEqual([]);
  });

  it('loads tfjs and its wasm backend on the first loadTf()', () => {
    const loaded = tensorflowModules('const tf = await ml.loadTf(); if (typeof tf.tensor !== "function") throw new Error("not tfjs");');
    expect(loaded).toContain('@tensorflow/tfjs');
    expect(loaded).toContain('@tensorflow/tfjs-backend-wasm');
  });
});
