/**
 * Models compute in float32. A value finite as a double but beyond float32's range (1e39)
 * becomes Infinity in the model's input and NaN in its outputs and statistics, so every value
 * that enters a model is checked against this range where it enters (API, batch, training data).
 */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** True for a finite number that float32 can hold (|v| <= FLOAT32_MAX). */
export function fitsFloat32(v: number): boolean {
  return v >= -FLOAT32_MAX && v <= FLOAT32_MAX;
}

/** Why a number cannot enter a float32 model, or undefined when it can. */
export function float32Problem(v: number): string | undefined {
  if (fitsFloat32(v)) return undefined;
  return Number.isFinite(v) ? `${v}, outside the float32 range (|x| <= ${FLOAT32_MAX})` : `${v}, not a finite number`;
}
