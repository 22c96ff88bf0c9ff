/**
 * A trained tfjs Sequential model as an equivalent ONNX graph, with the same weights, so
 * onnxruntime-node can run the very model the other runtimes run. Covers what the built-in
 * digits architectures use: Dense, Conv2D, MaxPooling2D, Flatten, Dropout (dropped) and the
 * relu/sigmoid/tanh/softmax/linear activations.
 *
 * Layout: tfjs is NHWC, ONNX Conv and MaxPool are NCHW. The graph keeps the tfjs NHWC input,
 * transposes once before the first convolution and transposes back before Flatten, so the
 * flattened vector has tfjs' element order and the Dense weights are used unchanged. This is
 * the graph a tf2onnx-style converter emits; onnxruntime's optimizer sees the transposes.
 */
import type { tf } from '@edgeml/ml';
import { attr, encodeModel, type OnnxInitializer, type OnnxNode } from './model.js';

type Layout = 'nhwc' | 'nchw' | 'flat';

export interface OnnxExport {
  bytes: Uint8Array;
  inputName: string;
  outputName: string;
  /** Input shape of one row, as tfjs has it (NHWC for images). */
  inputShape: number[];
  /** Op types in graph order, for the report. */
  ops: string[];
}

const ACTIVATIONS: Record<string, string | null> = { linear: null, relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh', softmax: 'Softmax' };

function pair(v: unknown, what: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0] as number, v[1] as number];
  throw new Error(`expected a number or a pair for ${what}, got ${JSON.stringify(v)}`);
}

/** tfjs conv kernel [kh, kw, cin, cout] -> ONNX Conv weight [cout, cin, kh, kw]. */
function convWeight(k: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let c = 0; c < cin; c++)
        for (let o = 0; o < cout; o++) out[((o * cin + c) * kh + y) * kw + x] = k[((y * kw + x) * cin + c) * cout + o]!;
  return out;
}

export function onnxFromTfjs(model: tf.LayersModel, name: string): OnnxExport {
  const inputShape = (model.inputs[0]!.shape as (number | null)[]).slice(1) as number[];
  const outputSize = (model.outputs[0]!.shape as (number | null)[]).slice(1).reduce<number>((a, b) => a * (b ?? 1), 1);
  const nodes: OnnxNode[] = [];
  const initializers: OnnxInitializer[] = [];
  const inputName = 'input';
  let current = inputName;
  let layout: Layout = inputShape.length === 3 ? 'nhwc' : 'flat';

  const emit = (op: string, nodeName: string, inputs: string[], attributes: OnnxNode['attributes'] = []): string => {
    const out = `${nodeName}:0`;
    nodes.push({ op, name: nodeName, inputs, outputs: [out], attributes });
    return out;
  };
  const constant = (tensorName: string, dims: number[], data: Float32Array): string => {
    initializers.push({ name: tensorName, dims, data });
    return tensorName;
  };
  const toLayout = (want: 'nchw' | 'nhwc', at: string) => {
    if (layout === want) return;
    current = emit('Transpose', `${at}/to_${want}`, [current], [attr.ints('perm', want === 'nchw' ? [0, 3, 1, 2] : [0, 2, 3, 1])]);
    layout = want;
  };
  const activation = (layer: { name: string }, act: unknown) => {
    const key = String(act ?? 'linear');
    if (!Object.hasOwn(ACTIVATIONS, key)) throw new Error(`layer "${layer.name}": activation "${key}" has no ONNX mapping here`);
    const op = ACTIVATIONS[key];
    if (!op) return;
    if (op === 'Softmax' && layout !== 'flat') throw new Error(`layer "${layer.name}": softmax over an image tensor is not mapped`);
    current = emit(op, `${layer.name}/${op.toLowerCase()}`, [current], op === 'Softmax' ? [attr.int('axis', -1)] : []);
  };

  for (const layer of model.layers) {
    const kind = layer.getClassName();
    const config = layer.getConfig() as Record<string, unknown>;
    const weights = layer.getWeights().map((w) => ({ shape: w.shape, data: w.dataSync() as Float32Array }));
    switch (kind) {
      case 'InputLayer':
      case 'Dropout':
        break;
      case 'Dense': {
        if (layout !== 'flat') throw new Error(`layer "${layer.name}": Dense on a rank-4 tensor is not mapped (add a Flatten)`);
        const [kernel, bias] = weights;
        const [inSize, units] = kernel!.shape as [number, number];
        const b = bias?.data ?? new Float32Array(units);
        // Gemm: Y = A x B + C, with B the tfjs kernel [in, out] as is.
        current = emit('Gemm', `${layer.name}/gemm`, [current, constant(`${layer.name}/kernel`, [inSize, units], kernel!.data), constant(`${layer.name}/bias`, [units], b)]);
        activation(layer, config.activation);
        break;
      }
      case 'Conv2D': {
        if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') throw new Error(`layer "${layer.name}": dataFormat ${String(config.dataFormat)} is not mapped`);
        toLayout('nchw', layer.name);
        const [kernel, bias] = weights;
        const [kh, kw, cin, cout] = kernel!.shape as [number, number, number, number];
        const b = bias?.data ?? new Float32Array(cout);
        const padding = config.padding;
        if (padding !== 'same' && padding !== 'valid') throw new Error(`layer "${layer.name}": padding ${String(padding)} is not mapped`);
        current = emit(
          'Conv',
          `${layer.name}/conv`,
          [current, constant(`${layer.name}/kernel`, [cout, cin, kh, kw], convWeight(kernel!.data, kh, kw, cin, cout)), constant(`${layer.name}/bias`, [cout], b)],
          [
            attr.ints('kernel_shape', [kh, kw]),
            attr.ints('strides', pair(config.strides ?? 1, 'strides')),
            attr.ints('dilations', pair(config.dilationRate ?? 1, 'dilationRate')),
            // TensorFlow's "same" puts the odd padding at the end: ONNX SAME_UPPER.
            attr.string('auto_pad', padding === 'same' ? 'SAME_UPPER' : 'VALID'),
          ],
        );
        activation(layer, config.activation);
        break;
      }
      case 'MaxPooling2D': {
        toLayout('nchw', layer.name);
        const pool = pair(config.poolSize, 'poolSize');
        const padding = config.padding;
        if (padding !== 'same' && padding !== 'valid') throw new Error(`layer "${layer.name}": padding ${String(padding)} is not mapped`);
        current = emit('MaxPool', `${layer.name}/maxpool`, [current], [
          attr.ints('kernel_shape', pool),
          attr.ints('strides', pair(config.strides ?? pool, 'strides')),
          attr.string('auto_pad', padding === 'same' ? 'SAME_UPPER' : 'VALID'),
        ]);
        break;
      }
      case 'Flatten': {
        if (layout === 'flat') break;
        toLayout('nhwc', layer.name);
        current = emit('Flatten', `${layer.name}/flatten`, [current], [attr.int('axis', 1)]);
        layout = 'flat';
        break;
      }
      default:
        throw new Error(`layer "${layer.name}" (${kind}) has no ONNX mapping in the bench converter`);
    }
  }
  if (layout !== 'flat') throw new Error('the model does not end in a flat tensor');
  const outputName = 'output';
  // Name the graph output plainly: rename the last node's output.
  const last = nodes.at(-1);
  if (!last) throw new Error('the model has no layers to convert');
  last.outputs = [outputName];

  const bytes = encodeModel({
    irVersion: 8,
    opset: 13,
    producer: 'edgeml-bench',
    graph: {
      name,
      nodes,
      initializers,
      inputs: [{ name: inputName, shape: ['N', ...inputShape] }],
      outputs: [{ name: outputName, shape: ['N', outputSize] }],
    },
  });
  return { bytes, inputName, outputName, inputShape, ops: nodes.map((n) => n.op) };
}
