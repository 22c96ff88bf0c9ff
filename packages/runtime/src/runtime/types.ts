/**
 * The runtime interface: how hub validation, the agent, batch inference and benchmarks run a
 * model artifact. One interface for every format, so what the hub measures is what the device
 * runs. Inputs are already preprocessed (see preprocess/), row-major float32.
 */
import type { ArtifactFormat } from '@edgeml/core';

export interface RuntimeInfo {
  /** e.g. `tfjs-wasm`, `tflite-xnnpack`. */
  runtime: string;
  format: ArtifactFormat;
  /** Shape of one input row, without the batch dimension. */
  inputShape: number[];
  /** Number of output values per row (classes, or 1 for regression). */
  outputSize: number;
}

export interface ModelRuntime {
  readonly info: RuntimeInfo;
  /**
   * Run `n` rows. `input` holds n * prod(inputShape) values; the result holds n * outputSize.
   * Synchronous on purpose: the hot path of the agent must not pay for promise hops.
   *
   * `out` (room for n * outputSize values) invites the runtime to write the result there and
   * return it, so a caller running batch after batch allocates nothing per call (each result
   * array is otherwise garbage V8 frees only at its next GC, which a caller that allocates
   * little on the JS heap rarely triggers). A runtime may ignore it: callers use what is returned.
   */
  predict(input: Float32Array, n: number, out?: Float32Array): Float32Array;
  /** Free native or WASM memory. The runtime is unusable afterwards. */
  dispose(): void;
}

export type RuntimeLoader = (artifact: Uint8Array) => Promise<ModelRuntime>;

/** Which loader runs which artifact format; hub and agent compose it from ml and tflite. */
export type RuntimeRegistry = Partial<Record<ArtifactFormat, RuntimeLoader>>;
