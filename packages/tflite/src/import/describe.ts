/**
 * A .tflite file that edgeml did not write (TensorFlow's converter, someone's own pipeline),
 * described by its user: which task, which features or input shape, which labels. The
 * description is checked against the file's own input and output tensors, so a model whose
 * inputs mean something else is refused at import, not served wrongly on a device.
 */
import { ModelSpecSchema, userError, type ModelSpec, type Task } from '@edgeml/core';
import { readTflite, type TfliteTensor } from '@edgeml/runtime';

export interface ImportDescription {
  task: Task;
  /** What the model predicts: the label column of evaluation data. */
  target: string;
  /** Feature names in the order the model's input holds them. */
  features?: string[];
  /** One row's shape without the batch dimension; defaults to the model's own. */
  inputShape?: number[];
  /** Class names in output order (classification); default "0".."k-1". */
  labels?: string[];
}

/** One input or output tensor as the import report shows it. */
export interface TensorSummary {
  name: string;
  type: string;
  /** Without the batch dimension. */
  shape: number[];
  /** The affine quantization of an int8 or uint8 tensor: real = (q - zeroPoint) * scale. */
  quantization?: { scale: number; zeroPoint: number };
}

export interface DescribedTflite {
  spec: ModelSpec;
  input: TensorSummary;
  output: TensorSummary;
}

const IO_TYPES = ['FLOAT32', 'INT8', 'UINT8'];
const MAX_FEATURES = 1 << 20;

/** Check `d` against the model's tensors and build the model spec devices serve it with. */
export function describeTflite(bytes: Uint8Array, d: ImportDescription): DescribedTflite {
  const model = readTflite(bytes);
  if (model.subgraphs.length > 1 && model.signatures.length > 1) {
    throw userError('import-mismatch', `the model has ${model.signatures.length} signatures; edgeml serves the first subgraph of a single-signature model`);
  }
  const sg = model.subgraphs[0]!;
  if (sg.inputs.length !== 1) throw userError('import-mismatch', `the model has ${sg.inputs.length} inputs (${sg.inputs.map((i) => `"${sg.tensors[i]!.name}"`).join(', ')}); edgeml serves models with one input`);
  if (sg.outputs.length !== 1) throw userError('import-mismatch', `the model has ${sg.outputs.length} outputs (${sg.outputs.map((i) => `"${sg.tensors[i]!.name}"`).join(', ')}); edgeml serves models with one output`);
  const input = summary(sg.tensors[sg.inputs[0]!]!, 'input');
  const output = summary(sg.tensors[sg.outputs[0]!]!, 'output');
  const size = input.shape.reduce((a, b) => a * b, 1);
  const inputName = `the model input "${input.name}" (${input.type.toLowerCase()} ${input.shape.join('x')}, ${size} values)`;

  if (d.inputShape && (d.inputShape.length !== input.shape.length || d.inputShape.some((v, i) => v !== input.shape[i]))) {
    throw userError('import-mismatch', `--input-shape ${d.inputShape.join('x')} does not match ${inputName}`);
  }
  if (d.features && d.features.length !== size) {
    throw userError('import-mismatch', `--features names ${d.features.length} feature${d.features.length === 1 ? '' : 's'}; ${inputName} takes ${size}`);
  }
  if (d.features && new Set(d.features).size !== d.features.length) throw userError('import-mismatch', '--features names a feature twice');
  if (size > MAX_FEATURES) throw userError('import-mismatch', `${inputName} is larger than the ${MAX_FEATURES} values edgeml serves per row`);
  const features = d.features ?? Array.from({ length: size }, (_, i) => `x${i}`);
  if (features.includes(d.target)) throw userError('import-mismatch', `the target "${d.target}" is also named as a feature`);

  const outSize = output.shape.reduce((a, b) => a * b, 1);
  const outName = `the model output "${output.name}" (${output.type.toLowerCase()} ${output.shape.join('x')}, ${outSize} values)`;
  let labels: string[] | undefined;
  if (d.task === 'regression') {
    if (outSize !== 1) throw userError('import-mismatch', `a regression model gives one value; ${outName}`);
    if (d.labels) throw userError('import-mismatch', '--labels is for classification models');
  } else {
    if (outSize < 2) throw userError('import-mismatch', `a classifier gives one score per class; ${outName} has ${outSize}`);
    if (d.labels && d.labels.length !== outSize) throw userError('import-mismatch', `--labels names ${d.labels.length} classes; ${outName} scores ${outSize}`);
    if (d.labels && new Set(d.labels).size !== d.labels.length) throw userError('import-mismatch', '--labels names a class twice');
    labels = d.labels ?? Array.from({ length: outSize }, (_, i) => String(i));
  }
  // Inputs reach the model as they come: the file carries its own normalisation, if any, and
  // int8 inputs are quantized by the runtime with the tensor's own scale and zero point.
  const spec = ModelSpecSchema.parse({
    task: d.task,
    target: d.target,
    features,
    inputShape: input.shape,
    ...(labels ? { labels } : {}),
    preprocessing: { kind: 'standardize', mean: new Array<number>(size).fill(0), std: new Array<number>(size).fill(1) },
  });
  return { spec, input, output };
}

function summary(t: TfliteTensor, what: 'input' | 'output'): TensorSummary {
  if (!IO_TYPES.includes(t.type)) throw userError('import-mismatch', `the model ${what} "${t.name}" is ${t.type.toLowerCase()}; edgeml serves float32, int8 and uint8 inputs and outputs`);
  if (t.shape.length < 2 || t.shape[0] !== 1) {
    throw userError('import-mismatch', `the model ${what} "${t.name}" has shape [${t.shape.join(', ')}]; edgeml expects a batch dimension of 1 first`);
  }
  const shape = t.shape.slice(1);
  if (shape.some((v) => !(v > 0))) throw userError('import-mismatch', `the model ${what} "${t.name}" has a dimension of unknown size: [${t.shape.join(', ')}]`);
  const s: TensorSummary = { name: t.name, type: t.type, shape };
  if (t.type !== 'FLOAT32') {
    const scale = t.quantization?.scale;
    if (!scale || scale.length !== 1 || !(scale[0]! > 0)) {
      throw userError('import-mismatch', `the model ${what} "${t.name}" is ${t.type.toLowerCase()} without one per-tensor scale; edgeml cannot turn its values into numbers`);
    }
    s.quantization = { scale: scale[0]!, zeroPoint: t.quantization?.zeroPoint[0] ?? 0 };
  }
  return s;
}
