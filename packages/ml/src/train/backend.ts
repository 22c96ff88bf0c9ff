/**
 * tfjs backends. Training runs on tfjs-node when the user has installed it (it cannot be
 * installed offline, see docs/ARCHITECTURE.md), otherwise on the pure-JS cpu backend: the wasm
 * backend lacks Conv2DBackpropFilter. tfjs-format inference runs on the wasm backend (SIMD),
 * the runtime a device uses.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export type TrainingBackend = 'tensorflow' | 'cpu';

let nodeBackendTried = false;

/** tfjs prints an advert for tfjs-node on first use of the cpu backend; it is noise for users. */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).includes('tfjs-node')) warn(...args);
  };
  try {
    return await fn();
  } finally {
    console.warn = warn;
  }
}

export async function useTrainingBackend(): Promise<TrainingBackend> {
  if (!nodeBackendTried) {
    nodeBackendTried = true;
    try {
      // A string the compiler cannot resolve: tfjs-node is optional and usually absent.
      const name = '@tensorflow/tfjs-node';
      await import(name);
    } catch {
      // Not installed: the cpu backend below is the documented fallback.
    }
  }
  if (tf.findBackend('tensorflow') && (await tf.setBackend('tensorflow'))) return 'tensorflow';
  await quietly(async () => {
    await tf.setBackend('cpu');
    tf.tidy(() => tf.zeros([1]).dataSync());
  });
  return 'cpu';
}

export async function useWasmBackend(): Promise<void> {
  if (tf.getBackend() === 'wasm') return;
  if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend failed to initialise');
}

export { tf };
