/**
 * Loads the TFLite interpreter: the Emscripten build (single-threaded, SIMD) that ships in
 * @tensorflow/tfjs-tflite's `wasm/` folder, driven directly through its embind classes.
 *
 * We do not load the package's JavaScript entry. It is a 1.3 MB browser client (task APIs,
 * protobuf, a module loader that needs `importScripts`, `fetch` and `self.location`) that
 * requires all of tfjs-core, only to wrap the same `TFLiteWebModelRunner` class we call here;
 * in an agent process those two cost ~9 MB of RSS and most of the start-up, and the device
 * package would have to ship them. The glue script needs no browser globals when it is handed
 * the compiled module (`instantiateWasm`), so nothing in the process is touched.
 *
 * Loading is lazy (first TFLite model) and happens once per process (per worker thread): the
 * interpreter's WASM instance is process-wide state by nature, so the cached promise below is
 * deliberate.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import vm from 'node:vm';
import { EdgemlError } from '@edgeml/core';

/** What the runtime needs from the loaded interpreter: the model runner factory. */
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

/** One interpreter: typed-array views of its IO tensors, and infer(). */
export interface ModelRunner {
  getInputs(): RunnerTensor[];
  getOutputs(): RunnerTensor[];
  infer(): boolean;
  getProfilingSummary(): string;
  cleanUp(): void;
}

/** The build we load: single-threaded (Node has no Web Workers for the threaded one) with SIMD. */
const GLUE = 'tflite_web_api_cc_simd.js';
const BINARY = 'tflite_web_api_cc_simd.wasm';
const FACTORY_NAME = 'tflite_web_api_ModuleFactory';
const STDERR_KEEP = 200;
/** Profiling entries the interpreter keeps per run (the package's own default). */
const PROFILING_ENTRIES = 1024;
const LOAD_TIMEOUT_MS = 60_000;

/** An embind object: C++ memory that JavaScript must release. */
interface Embound {
  delete(): void;
}
interface CppVector<T> extends Embound {
  size(): number;
  get(i: number): T;
}
interface CppRunner extends Embound {
  GetInputs(): CppVector<RunnerTensor>;
  GetOutputs(): CppVector<RunnerTensor>;
  Infer(): boolean;
  GetProfilingSummary(): string;
}
interface CppStatusOr {
  ok(): boolean;
  errorMessage(): string;
  value(): CppRunner;
}
/** The parts of the Emscripten module instance we use. */
interface WasmModule {
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  HEAPU8: Uint8Array;
  TFLiteWebModelRunner: {
    CreateFromBufferAndOptions(ptr: number, length: number, options: RunnerOptions & { maxProfilingBufferEntries: number }): CppStatusOr | null;
  };
}
type ModuleFactory = (arg: Record<string, unknown>) => Promise<WasmModule>;

/** The slice of the WebAssembly JS API we call (the project's TypeScript libs carry no DOM types). */
interface CompiledWasm {
  readonly compiled: unique symbol;
}
interface WasmInstance {
  readonly exports: unknown;
}
interface WebAssemblyApi {
  compile(bytes: Uint8Array): Promise<CompiledWasm>;
  instantiate(module: CompiledWasm, imports: unknown): Promise<WasmInstance>;
}
const { WebAssembly: wasmApi } = globalThis as unknown as { WebAssembly: WebAssemblyApi };
type ReceiveInstance = (instance: WasmInstance, module: CompiledWasm) => void;

let loading: Promise<TfliteWasm> | undefined;

/** Load the interpreter (once per process) and return the runner factory. */
export function loadTfliteWasm(): Promise<TfliteWasm> {
  // A failure is final for the process: a broken install does not mend itself between calls.
  loading ??= loadInterpreter(join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-tflite/package.json')), 'wasm'));
  return loading;
}

/**
 * Load the interpreter from `dir` (the glue script and its .wasm). Exported for tests of a
 * damaged install; everything else calls loadTfliteWasm().
 */
export async function loadInterpreter(dir: string, timeoutMs = LOAD_TIMEOUT_MS): Promise<TfliteWasm> {
  // The interpreter's stderr (model errors such as "Didn't find op for builtin opcode ...")
  // goes to the module's printErr; we keep the lines so the runtime can quote the reason in
  // the error it raises, and nothing is printed to the host's stderr behind its back.
  const stderr: string[] = [];
  let stderrCount = 0;
  const printErr = (...args: unknown[]): void => {
    stderr.push(args.map(String).join(' '));
    stderrCount++;
    if (stderr.length > STDERR_KEEP) stderr.shift();
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const [glue, binary] = await Promise.all([readFile(join(dir, GLUE), 'utf8'), readFile(join(dir, BINARY))]);
    const compiled = wasmApi.compile(binary);
    // The glue waits forever for an instance that never comes: a failed compile or instantiation
    // (a damaged .wasm) must end the load instead, and so must a module that never gets ready.
    let fail!: (e: unknown) => void;
    const failed = new Promise<never>((_, reject) => (fail = reject));
    // Observed by the race below, unless the glue fails first: then nobody else will.
    failed.catch(() => undefined);
    compiled.catch(fail);
    timer = setTimeout(() => fail(new Error(`the interpreter was not ready within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    const factory = evaluateGlue(glue, join(dir, GLUE));
    const ready = factory({
      printErr,
      print: printErr,
      // Handing over the instance ourselves keeps the glue off its browser paths (fetch,
      // XMLHttpRequest, self.location); `{}` tells it the instance comes asynchronously.
      instantiateWasm: (imports: unknown, receive: ReceiveInstance) => {
        compiled.then(async (m) => receive(await wasmApi.instantiate(m, imports), m)).catch(fail);
        return {};
      },
    });
    const module = await Promise.race([ready, failed]);
    if (typeof module.TFLiteWebModelRunner?.CreateFromBufferAndOptions !== 'function') throw new Error(`${GLUE} did not register its model runner`);
    return {
      // async: a refusal reaches the caller as a rejection, like the interface says.
      createRunner: async (model, options) => createRunner(module, model, options),
      stderrMark: () => stderrCount,
      stderrSince: (mark) => stderr.slice(Math.max(0, stderr.length - (stderrCount - mark))),
    };
  } catch (e) {
    const said = stderr.length > 0 ? ` (${stderr.join('; ')})` : '';
    throw new EdgemlError('tflite-env', `cannot start the TFLite interpreter: ${e instanceof Error ? e.message : String(e)}${said}`, { exitCode: 1, cause: e });
  } finally {
    clearTimeout(timer);
  }
}

/** Run the glue script in a function scope: its factory comes back without becoming a global. */
function evaluateGlue(source: string, filename: string): ModuleFactory {
  const factory: unknown = vm.runInThisContext(`(function () {\n${source}\n;return ${FACTORY_NAME};\n})()`, { filename });
  if (typeof factory !== 'function') throw new Error(`${filename} does not define ${FACTORY_NAME}`);
  return factory as ModuleFactory;
}

function createRunner(module: WasmModule, model: Uint8Array, options: RunnerOptions): ModelRunner {
  // The interpreter reads the flatbuffer in place for as long as it lives: it stays in WASM
  // memory until cleanUp(). Copying from the caller's view leaves the caller's bytes alone.
  const ptr = module._malloc(model.byteLength);
  if (ptr === 0) throw new Error(`the interpreter cannot allocate ${model.byteLength} bytes for the model`);
  module.HEAPU8.set(model, ptr);
  let status: CppStatusOr | null;
  try {
    status = module.TFLiteWebModelRunner.CreateFromBufferAndOptions(ptr, model.byteLength, { ...options, maxProfilingBufferEntries: PROFILING_ENTRIES });
  } catch (e) {
    module._free(ptr);
    throw e;
  }
  if (!status?.ok()) {
    module._free(ptr);
    throw new Error(status?.errorMessage() ?? 'the interpreter returned no model runner');
  }
  return new Runner(module, ptr, status.value());
}

class Runner implements ModelRunner {
  private live = true;

  constructor(
    private readonly module: WasmModule,
    private readonly modelPtr: number,
    private readonly cpp: CppRunner,
  ) {}

  getInputs(): RunnerTensor[] {
    return this.use(() => toArray(this.cpp.GetInputs()));
  }

  getOutputs(): RunnerTensor[] {
    return this.use(() => toArray(this.cpp.GetOutputs()));
  }

  infer(): boolean {
    return this.use(() => this.cpp.Infer());
  }

  getProfilingSummary(): string {
    return this.use(() => this.cpp.GetProfilingSummary());
  }

  cleanUp(): void {
    if (!this.live) return;
    this.live = false;
    this.cpp.delete();
    this.module._free(this.modelPtr);
  }

  private use<T>(f: () => T): T {
    if (!this.live) throw new Error('this interpreter has been cleaned up');
    return f();
  }
}

/** Copy an embind vector into an array and free the vector. */
function toArray<T>(v: CppVector<T>): T[] {
  try {
    const out: T[] = [];
    for (let i = 0; i < v.size(); i++) out.push(v.get(i));
    return out;
  } finally {
    v.delete();
  }
}
