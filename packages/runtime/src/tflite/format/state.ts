/**
 * Recurrent ops (TensorFlow's converter writes Keras LSTMs as UNIDIRECTIONAL_SEQUENCE_LSTM)
 * keep their state in variable tensors that the interpreter writes back after every infer():
 * the next row would start from the last row's state, so the same row gives different answers.
 * TFLite resets them only when tensors are allocated, and the WASM model runner has no reset.
 * Listing the variable tensors as extra subgraph inputs makes the runner hand out views of them,
 * so the runtime can restore their initial values before every infer().
 */
import { FlatReader } from './flatbuf.js';
import { F } from './schema.js';

/** A copy of `bytes` whose first subgraph also lists `tensors` as inputs, after its own. */
export function withExtraInputs(bytes: Uint8Array, tensors: readonly number[]): Uint8Array {
  const sg = new FlatReader(bytes).root().tables(F.Model.subgraphs, 'subgraphs')[0];
  const field = sg?.field(F.SubGraph.inputs) ?? 0;
  if (!sg || field === 0) throw new Error('the model has no subgraph inputs to extend');
  const inputs = [...sg.i32s(F.SubGraph.inputs, 'subgraph inputs'), ...tensors];
  // A flatbuffer vector cannot grow in place: write the new one after the file (offsets point
  // forward, so the end is always reachable) and point the field at it.
  const at = Math.ceil(bytes.length / 4) * 4;
  const out = new Uint8Array(at + 4 + 4 * inputs.length);
  out.set(bytes);
  const view = new DataView(out.buffer);
  view.setUint32(at, inputs.length, true);
  inputs.forEach((t, i) => view.setInt32(at + 4 + 4 * i, t, true));
  view.setUint32(field, at - field, true);
  return out;
}
