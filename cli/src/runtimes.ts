import { tfjsWasmLoader, type RuntimeRegistry } from '@edgeml/ml';
import { loadTfliteRuntime } from '@edgeml/tflite';

/** Every runtime this build can run, by artifact format: the hub validates with the same set the agent serves with. */
export function deviceRuntimes(): RuntimeRegistry {
  return {
    'tfjs-layers': tfjsWasmLoader('tfjs-layers'),
    'tfjs-uint8': tfjsWasmLoader('tfjs-uint8'),
    'tfjs-float16': tfjsWasmLoader('tfjs-float16'),
    'tflite-int8': loadTfliteRuntime,
    'tflite-float32': loadTfliteRuntime,
  };
}
