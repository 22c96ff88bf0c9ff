/**
 * What an int8 model can represent at its edges, in the units its users see: per feature for
 * the input, in target units for a regression's output. Quantization reports use it to find
 * the rows int8 clips.
 */
import type { ModelSpec } from '@edgeml/core';
import { readTflite, type TfliteQuantization } from '@edgeml/runtime';

export interface Int8Limits {
  /** Per feature, raw (unstandardised) units. */
  input?: { min: Float32Array; max: Float32Array };
  /** Regression only, target units; `step` is one quantization step. */
  output?: { min: number; max: number; step: number };
}

/**
 * The quantization where the float input becomes integers and the integer output becomes
 * float: on the IO tensors themselves, or on the QUANTIZE op after the input and the
 * DEQUANTIZE op before the output.
 */
function boundary(bytes: Uint8Array, side: 'input' | 'output'): { q: TfliteQuantization; lo: number; hi: number } | undefined {
  const sg = readTflite(bytes).subgraphs[0]!;
  const io = side === 'input' ? sg.inputs[0]! : sg.outputs[0]!;
  let tensor = sg.tensors[io]!;
  if (!tensor.quantization) {
    const op = side === 'input' ? sg.operators.find((x) => x.op === 'QUANTIZE' && x.inputs[0] === io) : sg.operators.find((x) => x.op === 'DEQUANTIZE' && x.outputs[0] === io);
    const inner = op ? (side === 'input' ? op.outputs[0] : op.inputs[0]) : undefined;
    if (inner === undefined) return undefined;
    tensor = sg.tensors[inner]!;
  }
  const q = tensor.quantization;
  if (!q || q.scale.length !== 1) return undefined;
  const [lo, hi] = tensor.type === 'UINT8' ? [0, 255] : tensor.type === 'INT8' ? [-128, 127] : [NaN, NaN];
  return Number.isNaN(lo) ? undefined : { q, lo, hi };
}

/** The input (and, for regression, output) range of an integer model under `spec`'s preprocessing. */
export function int8Limits(bytes: Uint8Array, spec: ModelSpec): Int8Limits {
  const limits: Int8Limits = {};
  const i = boundary(bytes, 'input');
  if (i) {
    const [lo, hi] = [(i.lo - i.q.zeroPoint[0]!) * i.q.scale[0]!, (i.hi - i.q.zeroPoint[0]!) * i.q.scale[0]!];
    const { mean, std } = spec.preprocessing;
    limits.input = { min: Float32Array.from(mean, (m, j) => m + lo * std[j]!), max: Float32Array.from(mean, (m, j) => m + hi * std[j]!) };
  }
  const o = spec.task === 'regression' ? boundary(bytes, 'output') : undefined;
  if (o) {
    const t = spec.preprocessing.target;
    const unit = (v: number) => (t ? v * t.std + t.mean : v);
    const scale = o.q.scale[0]!;
    limits.output = { min: unit((o.lo - o.q.zeroPoint[0]!) * scale), max: unit((o.hi - o.q.zeroPoint[0]!) * scale), step: scale * (t?.std ?? 1) };
  }
  return limits;
}
