/**
 * The runtimes the device package runs. TFLite is the device format and always present. tfjs
 * artifacts need the full tfjs (layers, ~100 MB installed with its backends), which a device
 * package should not carry for a format it rarely serves: they run when @edgeml/ml is installed
 * next to the agent (an optional peer), and are refused with that advice otherwise.
 */
import { userError, type ArtifactFormat } from '@edgeml/core';
import { loadTfliteRuntime, type RuntimeLoader, type RuntimeRegistry } from '@edgeml/runtime';

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

/** Every format, TFLite in this package and tfjs when @edgeml/ml is installed. */
export function agentRuntimes(): RuntimeRegistry {
  return {
    'tflite-int8': loadTfliteRuntime,
    'tflite-float32': loadTfliteRuntime,
    'tfjs-layers': tfjsLoader('tfjs-layers'),
    'tfjs-uint8': tfjsLoader('tfjs-uint8'),
    'tfjs-float16': tfjsLoader('tfjs-float16'),
  };
}
