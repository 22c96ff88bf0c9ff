/**
 * @edgeml/runtime: what a device runs, and nothing that trains. The runtime interface every
 * artifact format is served through, preprocessing (fitted by the trainer, applied here), the
 * drift bins, latency measurement, and the TFLite runtime on the WASM interpreter with the
 * .tflite reader it needs. @edgeml/ml and @edgeml/tflite build on it; the agent needs only it.
 */
export type { ModelRuntime, RuntimeInfo, RuntimeLoader, RuntimeRegistry } from './runtime/types.js';
export type { Dataset } from './data/dataset.js';
export { measureRuntime, percentile, median, type LatencyFigures, type MeasureOptions } from './measure/latency.js';
export { fitPreprocessing, applyPreprocessing, scaleTargets, decodeOutputs, outputsToTargets, type Prediction } from './preprocess/preprocess.js';
export { encodeRows, encodeRow, mapColumns, InputError } from './preprocess/input.js';
export { compileColumns, columnEncoder, encodeInputRow, encodedFeatureNames, inputNames, isGap, isNumberCell, OTHER_CATEGORY, type ColumnEncoder } from './preprocess/columns.js';
export { fitCategorical, rankCategories, DEFAULT_MAX_CATEGORIES, type CategoricalEncoding } from './preprocess/categorical.js';
export { fitNumericImpute, fitCategoryImpute, parseImpute, type ImputeOption, type ImputeRule } from './preprocess/impute.js';
export { fitDriftReference, binOf, psi } from './drift/reference.js';
export { loadTfliteRuntime, createTfliteRuntime, type TfliteRuntime, type TfliteRuntimeOptions } from './tflite/runtime/runtime.js';
/** The interpreter itself, for checks that must not go through the runtime's own conversions. */
export { loadTfliteWasm, loadInterpreter, type TfliteWasm, type ModelRunner, type RunnerTensor } from './tflite/runtime/env.js';
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
  type TfliteQuantization,
  type OptionValue,
  type TensorValues,
} from './tflite/format/read.js';
/** The TFLite schema's numbering, shared with @edgeml/tflite's writer. */
export {
  FILE_IDENTIFIER,
  SCHEMA_VERSION,
  TensorType,
  Op,
  Options,
  Padding,
  Activation,
  F,
  operatorName,
  optionsName,
  tensorTypeName,
  tensorTypeBytes,
  type TensorTypeName,
} from './tflite/format/schema.js';
