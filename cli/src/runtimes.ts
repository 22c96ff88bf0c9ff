import { tfjsWasmLoader, type RuntimeLoader, type RuntimeRegistry } from '@edgeml/ml';

/**
 * The TFLite family is imported when the first TFLite model loads, not with the CLI: a command
 * that runs no model (or a tfjs one) does not pay for it. (tfjs itself loads lazily in @edgeml/ml.)
 */
const tflite: RuntimeLoader = async (artifact) => (await import('@edgeml/tflite')).loadTfliteRuntime(artifact);

/** Every runtime this build can run, by artifact format: the hub validates with the same set the agent serves with. */
export function deviceRuntimes(): RuntimeRegistry {
  return {
    'tfjs-layers': tfjsWasmLoader('tfjs-layers'),
    'tfjs-uint8': tfjsWasmLoader('tfjs-uint8'),
    'tfjs-float16': tfjsWasmLoader('tfjs-float16'),
    'tflite-int8': tflite,
    'tflite-float32': tflite,
  };
}
