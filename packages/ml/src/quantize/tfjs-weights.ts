/**
 * Smaller tfjs variants: the weights of a tfjs bundle stored as uint8 (affine, per tensor) or
 * float16, using the quantization fields of tfjs' own weights manifest, so stock tfjs loaders
 * dequantize them on load. Only float32 weights are touched.
 */
import { userError } from '@edgeml/core';
import type { tf } from '../train/backend.js';
import { readBundle, writeBundle } from '../runtime/bundle.js';

export type WeightQuantization = 'uint8' | 'float16';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary32 -> binary16 bits, rounding to nearest even. */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

export function quantizeBundle(bundle: Uint8Array, to: WeightQuantization): Uint8Array {
  const artifacts = readBundle(bundle);
  const data = new Uint8Array(artifacts.weightData as ArrayBuffer);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const spec of artifacts.weightSpecs!) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = count * (spec.quantization ? ({ uint8: 1, uint16: 2, float16: 2 } as const)[spec.quantization.dtype] : 4);
    const raw = data.subarray(offset, offset + bytes);
    offset += bytes;
    if (spec.dtype !== 'float32' || spec.quantization) {
      specs.push(spec);
      parts.push(raw);
      continue;
    }
    const values = new Float32Array(raw.slice().buffer);
    if (to === 'float16') {
      const out = new Uint16Array(count);
      for (let i = 0; i < count; i++) out[i] = toFloat16Bits(values[i]!);
      specs.push({ ...spec, quantization: { dtype: 'float16' } });
      parts.push(new Uint8Array(out.buffer));
    } else {
      let min = Infinity;
      let max = -Infinity;
      for (const v of values) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      const scale = max > min ? (max - min) / 255 : 1;
      const out = new Uint8Array(count);
      for (let i = 0; i < count; i++) out[i] = Math.round((values[i]! - min) / scale);
      specs.push({ ...spec, quantization: { dtype: 'uint8', scale, min } });
      parts.push(out);
    }
  }
  if (offset !== data.length) throw userError('bad-artifact', 'tfjs bundle weights do not match their specs');
  const total = parts.reduce((a, p) => a + p.length, 0);
  const weights = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    weights.set(p, o);
    o += p.length;
  }
  return writeBundle({ modelTopology: artifacts.modelTopology!, weightSpecs: specs, weights });
}
