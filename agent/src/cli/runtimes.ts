/**
 * The runtimes the device package runs. TFLite is the device format and always present. tfjs
 * artifacts need the full tfjs (layers, ~100 MB installed with its backends), which a device
 * package should not carry for a format it rarely serves: they run when @edgeml/ml is installed
 * next to the agent (an optional peer), and are refused with that advice otherwise.
 */
import { userError, type ArtifactFormat } from '@edgeml/core';
import { createTfliteRuntime, type RuntimeLoader, type RuntimeRegistry } from '@edgeml/runtime';

interface TfjsLoaders {
  tfjsWasmLoader(format: ArtifactFormat): RuntimeLoader;
}

// A variable specifier: TypeScript must not need @edgeml/ml to compile the device package.
const OPTIONAL_TFJS = '@edgeml/ml';

function tfjsLoader(format: ArtifactFormat): RuntimeLoader {
  return async (artifact) => {
    let ml: TfjsLoaders;
    try {
      ml = (await import(OPTIONAL_TFJS)) as TfjsLoaders;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
      throw userError('no-runtime', `${format} artifacts need tfjs, which this device package leaves out: install @edgeml/ml next to the agent, or release the model as tflite-int8 or tflite-float32`);
    }
    return ml.tfjsWasmLoader(format)(artifact);
  };
}

/**
 * Every format, TFLite in this package and tfjs when @edgeml/ml is installed. `serve` (the
 * daemon) keeps one interpreter per loaded model: requests come a row or a few at a time, and a
 * second, re-batched interpreter would cost as much memory again (~9 MB for the digits CNN) for
 * throughput only a file of rows needs. `batch` (offline files) adds it.
 */
export function agentRuntimes(use: 'serve' | 'batch' = 'serve'): RuntimeRegistry {
  const tflite: RuntimeLoader = (artifact) => createTfliteRuntime(artifact, use === 'serve' ? { batchSize: 1 } : {});
  return {
    'tflite-int8': tflite,
    'tflite-float32': tflite,
    'tfjs-layers': tfjsLoader('tfjs-layers'),
    'tfjs-uint8': tfjsLoader('tfjs-uint8'),
    'tfjs-float16': tfjsLoader('tfjs-float16'),
  };
}

/** The batch registry by a name a worker thread can import (batch/model-worker.ts calls it with no arguments). */
export const agentBatchRuntimes = (): RuntimeRegistry => agentRuntimes('batch');
