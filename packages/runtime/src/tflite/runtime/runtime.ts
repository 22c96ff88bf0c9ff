/**
 * The TFLite runtime behind the ModelRuntime interface: the real TFLite interpreter (WASM,
 * XNNPACK, single-threaded SIMD) from @tensorflow/tfjs-tflite, driven through its model
 * runner's typed-array views and infer(). No tfjs tensors on the hot path: a row costs one
 * copy into WASM memory, infer(), and one copy out.
 */
import type { ArtifactFormat } from '@edgeml/core';
import { EdgemlError, errorMessage, userError } from '@edgeml/core';
import type { ModelRuntime, RuntimeInfo, RuntimeLoader } from '../../runtime/types.js';
import { readTflite, type TfliteModelInfo, type TfliteTensor } from '../format/read.js';
import { withInputBatch } from '../format/batch.js';
import { withExtraInputs } from '../format/state.js';
import { loadTfliteWasm, type ModelRunner, type RunnerTensor, type TfliteWasm } from './env.js';

export interface TfliteRuntimeOptions {
  /**
   * Rows per infer() when predict() gets many rows: a second interpreter with the input batch
   * resized runs them (1.3-1.5x the row loop's throughput on the digits CNN at 16). 1 turns
   * it off; models whose graph cannot be re-batched fall back to the row loop by themselves.
   */
  batchSize?: number;
  /** Collect per-op timings (see `profile()`); costs a little on every call. */
  enableProfiling?: boolean;
}

export interface TfliteRuntime extends ModelRuntime {
  /** The parsed model, for reports. */
  readonly model: TfliteModelInfo;
  /** Rows per infer() of the batched interpreter (1 when there is none). */
  readonly batchSize: number;
  /** The single-row interpreter's per-op profile (only with `enableProfiling`). */
  profile(): string;
}

/** The loader hub and agent register for 'tflite-int8' and 'tflite-float32' artifacts. */
export const loadTfliteRuntime: RuntimeLoader = (artifact) => createTfliteRuntime(artifact);

const DEFAULT_BATCH = 16;

type TensorView = ReturnType<RunnerTensor['data']>;
type QuantIo = { kind: 'int8' | 'uint8'; scale: number; zeroPoint: number };
type Io = { kind: 'float' } | QuantIo;

export async function createTfliteRuntime(artifact: Uint8Array, options: TfliteRuntimeOptions = {}): Promise<TfliteRuntime> {
  const model = readTflite(artifact);
  const sg = model.subgraphs[0]!;
  if (sg.inputs.length !== 1 || sg.outputs.length !== 1) {
    throw userError('tflite-unsupported-model', `the runtime serves models with one input and one output; this one has ${sg.inputs.length} and ${sg.outputs.length}`);
  }
  const inTensor = sg.tensors[sg.inputs[0]!]!;
  const outTensor = sg.tensors[sg.outputs[0]!]!;
  if (inTensor.shape[0] !== 1) {
    throw userError('tflite-unsupported-model', `the model input has batch dimension ${String(inTensor.shape[0])}; expected 1`);
  }
  const io = { input: ioOf(inTensor, 'input'), output: ioOf(outTensor, 'output') };
  const info: RuntimeInfo = {
    runtime: 'tflite-xnnpack',
    format: formatOf(model),
    inputShape: inTensor.shape.slice(1),
    outputSize: outTensor.shape.slice(1).reduce((a, d) => a * d, 1),
  };
  const rowSize = info.inputShape.reduce((a, d) => a * d, 1);
  // Variable tensors (recurrent state) become extra inputs the lanes reset before each row.
  const state = sg.tensors.filter((t) => t.isVariable).map((t) => t.index);
  const runnable = state.length > 0 ? withExtraInputs(artifact, state) : artifact;

  const wasm = await loadTfliteWasm();
  const runnerOptions = { numThreads: 1, enableProfiling: options.enableProfiling ?? false };
  const mark = wasm.stderrMark();
  let runner: ModelRunner;
  try {
    runner = await wasm.createRunner(runnable, runnerOptions);
  } catch (e) {
    throw userError('tflite-load-failed', `the TFLite interpreter refused the model: ${reason(wasm, mark, e)}`, e);
  }
  let single: Lane;
  try {
    single = new Lane(wasm, runner, 1, rowSize, info.outputSize, io, state.length);
  } catch (e) {
    runner.cleanUp();
    throw userError('tflite-load-failed', `the TFLite interpreter disagrees with the model file: ${errorMessage(e)}`, e);
  }
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? DEFAULT_BATCH));
  let batched: Lane | undefined;
  if (batchSize > 1) {
    let batchRunner: ModelRunner | undefined;
    try {
      batchRunner = await wasm.createRunner(withInputBatch(runnable, batchSize), { ...runnerOptions, enableProfiling: false });
      batched = new Lane(wasm, batchRunner, batchSize, rowSize, info.outputSize, io, state.length);
    } catch {
      // Not every graph can be re-batched (e.g. a RESHAPE to a fixed [1, n], or recurrent
      // state sized for one row); the row loop serves it just as correctly.
      batchRunner?.cleanUp();
      batched = undefined;
    }
  }
  return new RunnerRuntime(model, info, single, batched);
}

class RunnerRuntime implements TfliteRuntime {
  private disposed = false;
  readonly batchSize: number;

  constructor(
    readonly model: TfliteModelInfo,
    readonly info: RuntimeInfo,
    private readonly single: Lane,
    private readonly batched: Lane | undefined,
  ) {
    this.batchSize = batched?.rows ?? 1;
  }

  predict(input: Float32Array, n: number, out?: Float32Array): Float32Array {
    if (this.disposed) throw new EdgemlError('tflite-disposed', 'this TFLite runtime has been disposed', { exitCode: 1 });
    const rowSize = this.single.rowSize;
    if (!Number.isInteger(n) || n < 0 || input.length !== n * rowSize) {
      throw userError('tflite-bad-input', `expected ${n} rows of ${rowSize} values (${n * rowSize}), got ${input.length}`);
    }
    // Writing into the caller's buffer spares the garbage of a new array per call (batch runs).
    const size = n * this.info.outputSize;
    const result = out && out.length >= size ? out.subarray(0, size) : new Float32Array(size);
    let r = 0;
    if (this.batched) for (const b = this.batched.rows; r + b <= n; r += b) this.batched.run(input, r, result);
    for (; r < n; r++) this.single.run(input, r, result);
    return result;
  }

  profile(): string {
    return this.single.runner.getProfilingSummary();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.single.runner.cleanUp();
    this.batched?.runner.cleanUp();
  }
}

/** One interpreter running `rows` rows per infer(), with cached views of its IO tensors. */
class Lane {
  private inView!: TensorView;
  private outView!: TensorView;
  private stateViews: TensorView[] = [];
  /** Each state tensor as the interpreter initialised it, restored before every infer(). */
  private readonly stateInitial: TensorView[];

  constructor(
    private readonly wasm: TfliteWasm,
    readonly runner: ModelRunner,
    readonly rows: number,
    readonly rowSize: number,
    private readonly outSize: number,
    private readonly io: { input: Io; output: Io },
    private readonly stateInputs: number,
  ) {
    this.refreshViews();
    this.stateInitial = this.stateViews.map((v) => v.slice());
  }

  /** Run rows [first, first + rows) of `input` into `result`. */
  run(input: Float32Array, first: number, result: Float32Array): void {
    // Growing WASM memory detaches the views; they then read as empty, so refresh them.
    if (this.inView.length === 0 || this.outView.length === 0 || this.stateViews.some((v) => v.length === 0)) this.refreshViews();
    // Every view type is a number array, so setting one from its own snapshot is sound.
    for (let i = 0; i < this.stateViews.length; i++) (this.stateViews[i] as Float32Array).set(this.stateInitial[i]!);
    const rows = input.subarray(first * this.rowSize, (first + this.rows) * this.rowSize);
    if (this.io.input.kind === 'float') this.inView.set(rows);
    else quantizeInto(this.inView, rows, this.io.input);
    const mark = this.wasm.stderrMark();
    if (!this.runner.infer()) {
      throw new EdgemlError('tflite-infer-failed', `TFLite inference failed on row ${first}: ${reason(this.wasm, mark, undefined)}`, { exitCode: 1 });
    }
    if (this.io.output.kind === 'float') result.set(this.outView, first * this.outSize);
    else dequantizeInto(result, first * this.outSize, this.outView, this.io.output);
  }

  private refreshViews(): void {
    const ins = this.runner.getInputs();
    const outs = this.runner.getOutputs();
    if (ins.length !== 1 + this.stateInputs || outs.length !== 1) {
      throw new Error(`the interpreter reports ${ins.length} inputs and ${outs.length} outputs; expected ${1 + this.stateInputs} and 1`);
    }
    this.inView = ins[0]!.data();
    this.stateViews = ins.slice(1).map((t) => t.data());
    this.outView = outs[0]!.data();
    if (this.inView.length !== this.rows * this.rowSize || this.outView.length !== this.rows * this.outSize) {
      throw new Error(
        `the interpreter's tensors hold ${this.inView.length} inputs and ${this.outView.length} outputs; ` +
          `the model file says ${this.rows * this.rowSize} and ${this.rows * this.outSize}`,
      );
    }
  }
}

function ioOf(t: TfliteTensor, what: string): Io {
  if (t.type === 'FLOAT32') return { kind: 'float' };
  if (t.type === 'INT8' || t.type === 'UINT8') {
    const scale = t.quantization?.scale[0];
    const zeroPoint = t.quantization?.zeroPoint[0] ?? 0;
    if (scale === undefined || !(scale > 0)) throw userError('tflite-unsupported-model', `the model ${what} is ${t.type} without a quantization scale`);
    return { kind: t.type === 'INT8' ? 'int8' : 'uint8', scale, zeroPoint };
  }
  throw userError('tflite-unsupported-model', `the model ${what} is ${t.type}; the runtime serves float32, int8 and uint8 inputs and outputs`);
}

/** int8 when the graph computes in integers (whatever its IO types), float32 otherwise. */
function formatOf(model: TfliteModelInfo): ArtifactFormat {
  const sg = model.subgraphs[0]!;
  const integer = sg.operators.some((op) =>
    op.op !== 'QUANTIZE' && op.op !== 'DEQUANTIZE' &&
    op.outputs.some((i) => {
      const t = sg.tensors[i]!;
      return (t.type === 'INT8' || t.type === 'UINT8') && t.quantization !== undefined;
    }),
  );
  return integer ? 'tflite-int8' : 'tflite-float32';
}

function quantizeInto(view: TensorView, row: Float32Array, io: QuantIo): void {
  const [lo, hi] = io.kind === 'int8' ? [-128, 127] : [0, 255];
  for (let i = 0; i < row.length; i++) {
    const q = Math.round(row[i]! / io.scale) + io.zeroPoint;
    view[i] = q < lo ? lo : q > hi ? hi : q;
  }
}

function dequantizeInto(out: Float32Array, at: number, view: ArrayLike<number>, io: QuantIo): void {
  for (let i = 0; i < view.length; i++) out[at + i] = (view[i]! - io.zeroPoint) * io.scale;
}

/** The interpreter's own words for a failure: its stderr lines, else the JS error. */
function reason(wasm: TfliteWasm, mark: number, e: unknown): string {
  const lines = wasm.stderrSince(mark).map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('INFO:'));
  const js = e instanceof Error ? e.message : e === undefined ? 'infer() returned false' : String(e);
  return lines.length > 0 ? `${lines.join('; ')} (${js})` : js;
}
