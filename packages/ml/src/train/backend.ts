/**
 * tfjs backends. Training runs on tfjs-node when the user has installed it (it cannot be
 * installed offline, see docs/ARCHITECTURE.md), otherwise on the pure-JS cpu backend: the wasm
 * backend lacks Conv2DBackpropFilter. tfjs-format inference runs on the wasm backend (SIMD),
 * the runtime a device uses.
 *
 * tfjs is loaded on first use, never at import: an agent serving a TFLite model imports this
 * package for preprocessing and the runtime interface, and tfjs with its wasm backend would
 * cost it ~100 MB of memory and ~0.2 s of start-up for nothing. Only types come in statically.
 */
import type * as tf from '@tensorflow/tfjs';

export type { tf };
export type Tfjs = typeof tf;
export type TrainingBackend = 'tensorflow' | 'cpu';

// tfjs is process-wide state by nature (one registry of backends, one active backend), so one
// cached load per process is what there is to share.
let loading: Promise<Tfjs> | undefined;
let nodeBackendTried = false;

/** tfjs with the wasm backend registered; loaded once, on the first call. */
export function loadTf(): Promise<Tfjs> {
  loading ??= (async () => {
    const mod = await import('@tensorflow/tfjs');
    await import('@tensorflow/tfjs-backend-wasm');
    return mod;
  })();
  return loading;
}

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
  const tf = await loadTf();
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
  const tf = await loadTf();
  if (tf.getBackend() === 'wasm') return;
  if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend failed to initialise');
}
