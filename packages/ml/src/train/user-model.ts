import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { userError } from '@edgeml/core';
import { loadTf, useTrainingBackend, type tf } from './backend.js';

interface ModelJson {
  modelTopology: object;
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/**
 * A user's own tfjs LayersModel (`model.json` and its weight files, as tfjs' save or converter
 * writes them) as the starting point for training. Read from disk by hand: without tfjs-node
 * there is no file:// loader.
 */
export async function loadUserModel(modelJsonPath: string, expect: { inputSize: number; outputs: number }): Promise<tf.LayersModel> {
  // Weights are created on load: the training backend must be active first.
  await useTrainingBackend();
  const tf = await loadTf();
  let json: ModelJson;
  try {
    json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as ModelJson;
  } catch (e) {
    throw userError('bad-model', `cannot read tfjs model ${modelJsonPath}: ${(e as Error).message}`);
  }
  if (!json.modelTopology) throw userError('bad-model', `${modelJsonPath} has no modelTopology; is it a tfjs LayersModel model.json?`);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of json.weightsManifest ?? []) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const bytes = await readFile(join(dirname(modelJsonPath), p)).catch(() => {
        throw userError('bad-model', `weight file ${p} named by ${modelJsonPath} is missing`);
      });
      buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    }
  }
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: tf.io.concatenateArrayBuffers(buffers) }),
    );
  } catch (e) {
    throw userError('bad-model', `tfjs cannot load ${modelJsonPath}: ${(e as Error).message}`);
  }
  const inShape = (model.inputs[0]!.shape as (number | null)[]).slice(1);
  const outShape = (model.outputs[0]!.shape as (number | null)[]).slice(1);
  const inSize = inShape.reduce<number>((a, b) => a * (b ?? 1), 1);
  const outSize = outShape.reduce<number>((a, b) => a * (b ?? 1), 1);
  if (inSize !== expect.inputSize) throw userError('bad-model', `${modelJsonPath} takes ${inSize} inputs per row; the data has ${expect.inputSize} features`);
  if (outSize !== expect.outputs) throw userError('bad-model', `${modelJsonPath} gives ${outSize} outputs per row; the data needs ${expect.outputs}`);
  return model;
}

/** The input shape of a model, for the model spec. */
export const modelInputShape = (model: tf.LayersModel): number[] => (model.inputs[0]!.shape as (number | null)[]).slice(1).map((d) => d ?? 1);
