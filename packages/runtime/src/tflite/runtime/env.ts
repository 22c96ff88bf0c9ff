/**
 * The Node environment shim for @tensorflow/tfjs-tflite, and the only module that touches
 * process globals for it. The package is written for browsers: it loads its Emscripten glue
 * with `importScripts`, fetches the .wasm next to `self.location`, and probes for threads with
 * `MessageChannel` + `SharedArrayBuffer`. We pretend to be a web worker just long enough for
 * the WASM module to load, then put every global we touched back, so the rest of the process
 * (fetch for downloads, MQTT, tfjs) never sees a fake browser.
 *
 * Loading is lazy (first TFLite model) and happens once per process: the interpreter's WASM
 * instance is process-wide state by nature, so the cached promise below is deliberate.
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { EdgemlError } from '@edgeml/core';

/** What the runtime needs from the loaded package: the model runner factory. */
export interface TfliteWasm {
  createRunner(model: Uint8Array, options: RunnerOptions): Promise<ModelRunner>;
  /** Lines the interpreter wrote to stderr since `mark` (see `stderrMark`). */
  stderrSince(mark: number): string[];
  stderrMark(): number;
}

export interface RunnerOptions {
  numThreads: number;
  enableProfiling: boolean;
}

export interface RunnerTensor {
  id: number;
  name: string;
  dataType: string;
  /** Comma-separated dims, e.g. "1,8,8,1". */
  shape: string;
  data(): Int8Array | Uint8Array | Int16Array | Int32Array | Uint32Array | Float32Array | Float64Array;
}

/** The interpreter wrapper that `loadTFLiteModel` builds on; we use it directly (no tfjs tensors). */
export interface ModelRunner {
  getInputs(): RunnerTensor[];
  getOutputs(): RunnerTensor[];
  infer(): boolean;
  getProfilingSummary(): string;
  cleanUp(): void;
}

interface TfliteModulePublic {
  getWasmFeatures(): Promise<{ simd: boolean; multiThreading: boolean }>;
  setWasmPath(path: string): void;
}

interface TfwebGlobal {
  TFLiteWebModelRunner: { create(model: ArrayBuffer, options: RunnerOptions): Promise<ModelRunner> };
}

type ModuleFactory = (arg: Record<string, unknown>) => Promise<unknown>;

const FACTORY_NAME = 'tflite_web_api_ModuleFactory';
const STDERR_KEEP = 200;
const LOAD_TIMEOUT_MS = 60_000;

let loading: Promise<TfliteWasm> | undefined;

/** Load the interpreter (once per process) and return the runner factory. */
export function loadTfliteWasm(): Promise<TfliteWasm> {
  // A failure is final for the process: the package caches its own loader state at require
  // time, so a second attempt could only wait for a module that never comes.
  loading ??= installAndLoad();
  return loading;
}

async function installAndLoad(): Promise<TfliteWasm> {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve('@tensorflow/tfjs-tflite/package.json'));
  const wasmDirUrl = pathToFileURL(join(pkgDir, 'wasm')).href + '/';
  const g = globalThis as Record<string, unknown>;

  // The interpreter's stderr (model errors such as "Didn't find op for builtin opcode ...")
  // goes to Emscripten's printErr, which defaults to a console.warn bound at module start-up.
  // We hand the factory our own printErr instead, so the runtime can quote the reason in the
  // error it raises, and nothing is printed to the host's stderr behind its back.
  const stderr: string[] = [];
  let stderrCount = 0;
  const printErr = (...args: unknown[]): void => {
    stderr.push(args.map(String).join(' '));
    stderrCount++;
    if (stderr.length > STDERR_KEEP) stderr.shift();
  };

  let resolveReady!: (v: unknown) => void;
  let rejectReady!: (e: unknown) => void;
  const moduleReady = new Promise<unknown>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });

  const saved = new Map<string, PropertyDescriptor | undefined>();
  const setGlobal = (name: string, value: unknown): void => {
    if (!saved.has(name)) saved.set(name, Object.getOwnPropertyDescriptor(g, name));
    Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  };
  const restore = (name: string): void => {
    if (!saved.has(name)) return;
    const d = saved.get(name);
    if (d) Object.defineProperty(g, name, d);
    else delete g[name];
    saved.delete(name);
  };
  const restoreAll = (): void => {
    for (const name of [...saved.keys()]) restore(name);
  };

  const originalFetch = globalThis.fetch;
  // The glue fetches the .wasm by URL; serve file: URLs from disk and pass anything else on.
  const fileFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith('file:')) return originalFetch(input, init);
    const body = await readFile(fileURLToPath(url));
    return new Response(body, { headers: { 'content-type': 'application/wasm' } });
  };
  const importScripts = (...urls: string[]): void => {
    for (const url of urls) {
      try {
        const path = url.startsWith('file:') ? fileURLToPath(url) : url;
        vm.runInThisContext(readFileSync(path, 'utf8'), { filename: path });
        wrapFactory(g, printErr, resolveReady, rejectReady);
      } catch (e) {
        rejectReady(e);
        throw e;
      }
    }
  };

  const originalMessageChannel = globalThis.MessageChannel;
  try {
    if (g.self === undefined) setGlobal('self', globalThis);
    if (g.navigator === undefined) setGlobal('navigator', { hardwareConcurrency: availableParallelism() });
    // The loader resolves the glue script and the .wasm relative to the worker's location.
    setGlobal('location', new URL(wasmDirUrl));
    setGlobal('importScripts', importScripts);
    setGlobal('fetch', fileFetch);
    // The threaded build needs real Web Workers, which Node does not have. The package picks
    // the build from getWasmFeatures(), which probes `new MessageChannel()`; make the probe
    // fail until the answer is cached, so it settles on the single-threaded SIMD build.
    setGlobal('MessageChannel', function MessageChannelUnavailable(): never {
      throw new Error('MessageChannel is disabled while the TFLite interpreter loads');
    });

    // Requiring the package starts loading the WASM module at once (a preload), so every
    // global above must be in place first.
    const mod = require('@tensorflow/tfjs-tflite') as TfliteModulePublic;
    const features = await mod.getWasmFeatures();
    restore('MessageChannel');
    if (globalThis.MessageChannel !== originalMessageChannel) throw new Error('MessageChannel was not restored');
    if (!features.simd || features.multiThreading) {
      throw new Error(`unexpected WASM features ${JSON.stringify(features)}; need simd without threads`);
    }
    // Paths are resolved against self.location; '' keeps the loader keyed to the instance the
    // preload above is already building, so there is exactly one WASM instance per process.
    mod.setWasmPath('');
    await withTimeout(moduleReady, LOAD_TIMEOUT_MS, 'the TFLite WASM module did not finish loading');

    const tfweb = g.tfweb as TfwebGlobal | undefined;
    if (!tfweb?.TFLiteWebModelRunner) throw new Error('the TFLite web API did not register its model runner');
    const factory = tfweb.TFLiteWebModelRunner;
    return {
      createRunner: (model, options) => {
        // The factory copies the bytes into WASM memory; hand it an exact ArrayBuffer.
        const copy = model.buffer.slice(model.byteOffset, model.byteOffset + model.byteLength) as ArrayBuffer;
        return factory.create(copy, options);
      },
      stderrMark: () => stderrCount,
      stderrSince: (mark) => stderr.slice(Math.max(0, stderr.length - (stderrCount - mark))),
    };
  } catch (e) {
    throw new EdgemlError('tflite-env', `cannot start the TFLite interpreter: ${e instanceof Error ? e.message : String(e)}`, {
      exitCode: 1,
      cause: e,
    });
  } finally {
    restoreAll();
  }
}

/**
 * Wrap the Emscripten factory the glue script just defined: inject our printErr and learn
 * when the module (and its .wasm) is ready, so the globals can be put back afterwards.
 */
function wrapFactory(
  g: Record<string, unknown>,
  printErr: (...args: unknown[]) => void,
  onReady: (v: unknown) => void,
  onError: (e: unknown) => void,
): void {
  const factory = g[FACTORY_NAME] as ModuleFactory | undefined;
  if (typeof factory !== 'function') return;
  g[FACTORY_NAME] = (arg: Record<string, unknown>) => {
    const ready = factory({ ...arg, printErr });
    ready.then(onReady, onError);
    return ready;
  };
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
