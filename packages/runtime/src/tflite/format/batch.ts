/**
 * The model runner in @tensorflow/tfjs-tflite has no resize API, but the interpreter derives
 * every activation shape from the input at allocation time. So a copy of the file with the
 * input's batch dimension rewritten gives an interpreter that runs `batch` rows per infer().
 */
import { F } from './schema.js';
import { FlatReader } from './flatbuf.js';

/** A copy of `bytes` whose first subgraph's first input has batch dimension `batch`. */
export function withInputBatch(bytes: Uint8Array, batch: number): Uint8Array {
  const r = new FlatReader(bytes);
  const sg = r.root().tables(F.Model.subgraphs, 'subgraphs')[0];
  const input = sg?.i32s(F.SubGraph.inputs, 'subgraph inputs')[0];
  const tensor = input === undefined ? undefined : sg?.tables(F.SubGraph.tensors, 'tensors')[input];
  const shape = tensor?.vector(F.Tensor.shape, 4, 'tensor shape');
  if (!shape || shape.length === 0) throw new Error('the model input has no batch dimension to resize');
  // Not bytes.slice(): on a Node Buffer (what readFile gives) that is a view, and the caller's
  // model would be rewritten in place.
  const copy = new Uint8Array(bytes);
  new DataView(copy.buffer, copy.byteOffset, copy.byteLength).setInt32(shape.start, batch, true);
  return copy;
}
