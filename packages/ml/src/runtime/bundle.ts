/**
 * A tfjs LayersModel as one file, so it can be hashed, signed and shipped as a single artifact:
 * magic "EMTF", a little-endian u32 header length, a JSON header (topology and weight specs,
 * as tfjs' own model.json has them), then the weight bytes.
 */
import { userError } from '@edgeml/core';
import { loadTf, type tf } from '../train/backend.js';

const MAGIC = 'EMTF';

export async function saveBundle(model: tf.LayersModel): Promise<Uint8Array> {
  const tf = await loadTf();
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts) throw new Error('tfjs did not hand over the model artifacts');
  const w = artifacts.weightData;
  const weights = w instanceof ArrayBuffer ? new Uint8Array(w) : new Uint8Array(tf.io.concatenateArrayBuffers(w as ArrayBuffer[]));
  return writeBundle({ modelTopology: artifacts.modelTopology as object, weightSpecs: artifacts.weightSpecs!, weights });
}

export function writeBundle(b: { modelTopology: object; weightSpecs: tf.io.WeightsManifestEntry[]; weights: Uint8Array }): Uint8Array {
  const header = Buffer.from(JSON.stringify({ modelTopology: b.modelTopology, weightSpecs: b.weightSpecs }));
  const out = new Uint8Array(8 + header.length + b.weights.length);
  out.set(Buffer.from(MAGIC, 'ascii'), 0);
  new DataView(out.buffer).setUint32(4, header.length, true);
  out.set(header, 8);
  out.set(b.weights, 8 + header.length);
  return out;
}

/** Bytes of weight data in a bundle (what quantization shrinks), apart from the topology. */
export function bundleWeightBytes(bytes: Uint8Array): number {
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  return bytes.length - 8 - len;
}

export function readBundle(bytes: Uint8Array): tf.io.ModelArtifacts {
  if (bytes.length < 8 || Buffer.from(bytes.subarray(0, 4)).toString('ascii') !== MAGIC) {
    throw userError('bad-artifact', 'not an edgeml tfjs bundle (bad magic)');
  }
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  if (8 + len > bytes.length) throw userError('bad-artifact', 'truncated tfjs bundle');
  let header: { modelTopology: object; weightSpecs: tf.io.WeightsManifestEntry[] };
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + len)).toString('utf8'));
  } catch (e) {
    throw userError('bad-artifact', `tfjs bundle header is not JSON: ${(e as Error).message}`);
  }
  // Copy explicitly: a Node Buffer's slice() is a view whose .buffer is the whole pool.
  const weights = new Uint8Array(bytes.length - 8 - len);
  weights.set(bytes.subarray(8 + len));
  const weightData = weights.buffer;
  return { modelTopology: header.modelTopology, weightSpecs: header.weightSpecs, weightData };
}

export async function loadBundle(bytes: Uint8Array): Promise<tf.LayersModel> {
  const artifacts = readBundle(bytes);
  const tf = await loadTf();
  // Weights become tensors on load: some backend must be ready (tfjs picks its best one).
  await tf.ready();
  try {
    return await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (e) {
    throw userError('bad-artifact', `tfjs cannot load the model: ${(e as Error).message}`);
  }
}
