/**
 * tfjs backends. Training runs on tfjs-node when the user has installed it (it cannot be
 * installed offline, see docs/ARCHITECTURE.md), otherwise on the wasm backend (SIMD, XNNPACK)
 * with the convolution filter gradient it lacks registered by conv-grad.ts. The pure-JS cpu
 * backend, the path before that kernel existed, stays selectable as the reference the
 * gradient tests and the training benchmark compare with. tfjs-format inference runs on the
 * wasm backend too, the runtime a device uses.
 *
 * tfjs is loaded on first use, never at import: an agent serving a TFLite model imports this
 * package for preprocessing and the runtime interface, and tfjs with its wasm backend would
 * cost it ~100 MB of memory and ~0.2 s of start-up for nothing. Only types come in statically.
 */
import type * as tf from '@tensorflow/tfjs';
import { registerWasmConvGradients } from './conv-grad.js';

export type { tf };
export type Tfjs = typeof tf;
export type TrainingBackend = 'tensorflow' | 'wasm' | 'cpu';
/** `auto`: tfjs-node when installed, else wasm. `wasm` and `cpu` force that backend. */
export type TrainingBackendChoice = 'auto' | 'wasm' | 'cpu';

// tfjs is process-wide state by nature (one registry of backends, one active backend), so one
// cached load per process is what there is to share.
let loading: Promise<Tfjs> | undefined;
let nodeBackendTried = false;

/** tfjs with the wasm backend registered; loaded once, on the first call. */
export function loadTf(): Promise<Tfjs> {
  loading ??= (async () => {
    const mod = await import('@tensorflow/tfjs');
    await import('@tensorflow/tfjs-backend-wasm');
    registerWasmConvGradients(mod);
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

export async function useTrainingBackend(choice: TrainingBackendChoice = 'auto'): Promise<TrainingBackend> {
  const tf = await loadTf();
  if (choice === 'wasm') {
    await useWasmBackend();
    return 'wasm';
  }
  if (choice === 'cpu') {
    await quietly(async () => {
      await tf.setBackend('cpu');
      tf.tidy(() => tf.zeros([1]).dataSync());
    });
    return 'cpu';
  }
  if (!nodeBackendTried) {
    nodeBackendTried = true;
    try {
      // A string the compiler cannot resolve: tfjs-node is optional and usually absent.
      const name = '@tensorflow/tfjs-node';
      await import(name);
    } catch {
      // Not installed: the wasm backend below is the documented fallback.
    }
  }
  if (tf.findBackend('tensorflow') && (await tf.setBackend('tensorflow'))) return 'tensorflow';
  await useWasmBackend();
  return 'wasm';
}

export async function useWasmBackend(): Promise<void> {
  const tf = await loadTf();
  if (tf.getBackend() === 'wasm') return;
  if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend failed to initialise');
}
