/**
 * @edgeml/tflite: TFLite for the device, from TypeScript. A writer (tfjs LayersModel ->
 * .tflite, float32 or calibrated full-integer int8), a reader and inspector for any .tflite,
 * and a runtime on the real TFLite interpreter (WASM) behind the ModelRuntime interface. The
 * reader and the runtime live in @edgeml/runtime (what a device installs) and are re-exported here.
 */
export { exportTflite, rangeRuleText, DEFAULT_RANGE_MARGIN, type ExportTfliteOptions, type TfliteQuantization } from './convert/export.js';
export {
  readTflite,
  tensorData,
  type TfliteModelInfo,
  type TfliteSubgraph,
  type TfliteTensor,
  type TfliteOperator,
  type TfliteOperatorCode,
  type TfliteBuffer,
  type TfliteSize,
  type TfliteQuantization as TfliteQuantizationParams,
  type OptionValue,
  type TensorValues,
} from '@edgeml/runtime';
export { formatTfliteInfo, type FormatOptions } from './format/inspect.js';
export { int8Limits, type Int8Limits } from './format/limits.js';
export { loadTfliteRuntime, createTfliteRuntime, type TfliteRuntime, type TfliteRuntimeOptions } from '@edgeml/runtime';
export { describeTflite, type ImportDescription, type DescribedTflite, type TensorSummary } from './import/describe.js';
/** The interpreter itself, for checks that must not go through the runtime's own conversions. */
export { loadTfliteWasm, type TfliteWasm, type ModelRunner, type RunnerTensor } from '@edgeml/runtime';
