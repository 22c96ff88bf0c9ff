import type { ArtifactFormat } from '@edgeml/core';
import type { ModelRuntime, RuntimeLoader } from '@edgeml/runtime';
import { loadBundle } from './bundle.js';
import { loadTf, useTrainingBackend, useWasmBackend, type tf, type Tfjs } from '../train/backend.js';

function wrap(tf: Tfjs, model: tf.LayersModel, runtime: string, format: ArtifactFormat): ModelRuntime {
  const inputShape = (model.inputs[0]!.shape as (number | null)[]).slice(1) as number[];
  const outputSize = (model.outputs[0]!.shape as (number | null)[]).slice(1).reduce<number>((a, b) => a * (b ?? 1), 1);
  const run = (input: Float32Array, n: number) => {
    // dataSync outside tidy: inside it, tidy walks the returned array looking for tensors.
    const out = tf.tidy(() => model.predict(tf.tensor(input, [n, ...inputShape])) as tf.Tensor);
    try {
      return out.dataSync() as Float32Array;
    } finally {
      out.dispose();
    }
  };
  // Warm up once so the first real request does not pay for kernel set-up.
  run(new Float32Array(inputShape.reduce((a, b) => a * b, 1)), 1);
  return { info: { runtime, format, inputShape, outputSize }, predict: run, dispose: () => model.dispose() };
}

/**
 * tfjs LayersModel on the wasm backend (SIMD): the runtime a device runs for tfjs-format
 * artifacts. tfjs has one active backend per process; loading switches it to wasm.
 */
export function tfjsWasmLoader(format: ArtifactFormat = 'tfjs-layers'): RuntimeLoader {
  return async (artifact) => {
    await useWasmBackend();
    return wrap(await loadTf(), await loadBundle(artifact), 'tfjs-wasm', format);
  };
}

/** tfjs on the cpu backend: for benchmarks that compare it with wasm. */
export async function loadTfjsCpu(artifact: Uint8Array): Promise<ModelRuntime> {
  await useTrainingBackend('cpu');
  const tf = await loadTf();
  return wrap(tf, await loadBundle(artifact), `tfjs-${tf.getBackend()}`, 'tfjs-layers');
}
