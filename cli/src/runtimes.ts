import { tfjsWasmLoader, type RuntimeRegistry } from '@edgeml/ml';

/** Every runtime this build can run, by artifact format: the hub validates with the same set the agent serves with. */
export function deviceRuntimes(): RuntimeRegistry {
  return {
    'tfjs-layers': tfjsWasmLoader('tfjs-layers'),
    'tfjs-uint8': tfjsWasmLoader('tfjs-uint8'),
    'tfjs-float16': tfjsWasmLoader('tfjs-float16'),
  };
}
