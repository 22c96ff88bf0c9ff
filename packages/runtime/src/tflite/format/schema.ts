/**
 * Enum values and table field ids of the TFLite flatbuffer schema (tensorflow/lite/schema/
 * schema.fbs, version 3 with the 3a-3c additions). Field ids are declaration order; a union
 * field takes two ids (its `_type` byte, then the value). Only what the reader and writer use.
 */

export const FILE_IDENTIFIER = 'TFL3';
export const SCHEMA_VERSION = 3;

export const TensorType = {
  FLOAT32: 0,
  FLOAT16: 1,
  INT32: 2,
  UINT8: 3,
  INT64: 4,
  STRING: 5,
  BOOL: 6,
  INT16: 7,
  COMPLEX64: 8,
  INT8: 9,
  FLOAT64: 10,
  COMPLEX128: 11,
  UINT64: 12,
  RESOURCE: 13,
  VARIANT: 14,
  UINT32: 15,
  UINT16: 16,
  INT4: 17,
} as const;
export type TensorTypeName = keyof typeof TensorType;

const TENSOR_TYPE_NAMES = Object.keys(TensorType) as TensorTypeName[];

export function tensorTypeName(code: number): string {
  return TENSOR_TYPE_NAMES[code] ?? `UNKNOWN_${code}`;
}

/** Bytes per element; 0 where it is not a fixed width (strings, resources, int4 packing). */
export function tensorTypeBytes(code: number): number {
  switch (code) {
    case TensorType.INT8: case TensorType.UINT8: case TensorType.BOOL: return 1;
    case TensorType.INT16: case TensorType.UINT16: case TensorType.FLOAT16: return 2;
    case TensorType.FLOAT32: case TensorType.INT32: case TensorType.UINT32: return 4;
    case TensorType.INT64: case TensorType.UINT64: case TensorType.FLOAT64: case TensorType.COMPLEX64: return 8;
    case TensorType.COMPLEX128: return 16;
    default: return 0;
  }
}

/** BuiltinOperator codes the writer emits. */
export const Op = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  SOFTMAX: 25,
  TANH: 28,
  QUANTIZE: 114,
  /** Codes above this live only in `builtin_code`; `deprecated_builtin_code` holds 127. */
  PLACEHOLDER_FOR_GREATER_OP_CODES: 127,
} as const;

/** Every BuiltinOperator name by code, 0..205 (for the reader and `inspect`). */
const OPERATOR_NAMES = (
  'ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE ' +
  'EMBEDDING_LOOKUP FLOOR FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D ' +
  'LOCAL_RESPONSE_NORMALIZATION LOGISTIC LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1 ' +
  'RELU6 RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH CONCAT_EMBEDDINGS ' +
  'SKIP_GRAM CALL CUSTOM EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER ' +
  'BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE ' +
  'UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT ' +
  'LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM CAST PRELU MAXIMUM ARG_MAX MINIMUM LESS NEG ' +
  'PADV2 GREATER GREATER_EQUAL LESS_EQUAL SELECT SLICE SIN TRANSPOSE_CONV SPARSE_TO_DENSE TILE ' +
  'EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW ARG_MIN FAKE_QUANT REDUCE_PROD ' +
  'REDUCE_MAX PACK LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK REDUCE_MIN FLOOR_DIV ' +
  'REDUCE_ANY SQUARE ZEROS_LIKE FILL FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR LEAKY_RELU ' +
  'SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL REVERSE_V2 ADD_N GATHER_ND COS WHERE ' +
  'RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND HARD_SWISH IF WHILE ' +
  'NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY SEGMENT_SUM ' +
  'BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM CALL_ONCE BROADCAST_TO RFFT2D CONV_3D ' +
  'IMAG REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT HASHTABLE_SIZE REDUCE_ALL ' +
  'CONV_3D_TRANSPOSE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS ' +
  'RANDOM_STANDARD_NORMAL BUCKETIZE RANDOM_UNIFORM MULTINOMIAL GELU DYNAMIC_UPDATE_SLICE ' +
  'RELU_0_TO_1 UNSORTED_SEGMENT_PROD UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_SUM ATAN2 ' +
  'UNSORTED_SEGMENT_MIN SIGN BITCAST BITWISE_XOR RIGHT_SHIFT STABLEHLO_LOGISTIC STABLEHLO_ADD ' +
  'STABLEHLO_DIVIDE STABLEHLO_MULTIPLY STABLEHLO_MAXIMUM STABLEHLO_RESHAPE STABLEHLO_CLAMP ' +
  'STABLEHLO_CONCATENATE STABLEHLO_BROADCAST_IN_DIM STABLEHLO_CONVOLUTION STABLEHLO_SLICE ' +
  'STABLEHLO_CUSTOM_CALL STABLEHLO_REDUCE STABLEHLO_ABS STABLEHLO_AND STABLEHLO_COSINE ' +
  'STABLEHLO_EXPONENTIAL STABLEHLO_FLOOR STABLEHLO_LOG STABLEHLO_MINIMUM STABLEHLO_NEGATE ' +
  'STABLEHLO_OR STABLEHLO_POWER STABLEHLO_REMAINDER STABLEHLO_RSQRT STABLEHLO_SELECT ' +
  'STABLEHLO_SUBTRACT STABLEHLO_TANH STABLEHLO_SCATTER STABLEHLO_COMPARE STABLEHLO_CONVERT ' +
  'STABLEHLO_DYNAMIC_SLICE STABLEHLO_DYNAMIC_UPDATE_SLICE STABLEHLO_PAD STABLEHLO_IOTA ' +
  'STABLEHLO_DOT_GENERAL STABLEHLO_REDUCE_WINDOW STABLEHLO_SORT STABLEHLO_WHILE STABLEHLO_GATHER ' +
  'STABLEHLO_TRANSPOSE DILATE STABLEHLO_RNG_BIT_GENERATOR REDUCE_WINDOW'
).split(' ');

export function operatorName(code: number): string {
  if (code === 225) return 'TEMP_STREAMING_CONV_2D';
  return OPERATOR_NAMES[code] ?? `UNKNOWN_OP_${code}`;
}

/** BuiltinOptions union members; the union type byte is index + 1 (0 is NONE). */
const OPTIONS_NAMES = (
  'Conv2DOptions DepthwiseConv2DOptions ConcatEmbeddingsOptions LSHProjectionOptions ' +
  'Pool2DOptions SVDFOptions RNNOptions FullyConnectedOptions SoftmaxOptions ' +
  'ConcatenationOptions AddOptions L2NormOptions LocalResponseNormalizationOptions LSTMOptions ' +
  'ResizeBilinearOptions CallOptions ReshapeOptions SkipGramOptions SpaceToDepthOptions ' +
  'EmbeddingLookupSparseOptions MulOptions PadOptions GatherOptions BatchToSpaceNDOptions ' +
  'SpaceToBatchNDOptions TransposeOptions ReducerOptions SubOptions DivOptions SqueezeOptions ' +
  'SequenceRNNOptions StridedSliceOptions ExpOptions TopKV2Options SplitOptions ' +
  'LogSoftmaxOptions CastOptions DequantizeOptions MaximumMinimumOptions ArgMaxOptions ' +
  'LessOptions NegOptions PadV2Options GreaterOptions GreaterEqualOptions LessEqualOptions ' +
  'SelectOptions SliceOptions TransposeConvOptions SparseToDenseOptions TileOptions ' +
  'ExpandDimsOptions EqualOptions NotEqualOptions ShapeOptions PowOptions ArgMinOptions ' +
  'FakeQuantOptions PackOptions LogicalOrOptions OneHotOptions LogicalAndOptions ' +
  'LogicalNotOptions UnpackOptions FloorDivOptions SquareOptions ZerosLikeOptions FillOptions ' +
  'BidirectionalSequenceLSTMOptions BidirectionalSequenceRNNOptions ' +
  'UnidirectionalSequenceLSTMOptions FloorModOptions RangeOptions ResizeNearestNeighborOptions ' +
  'LeakyReluOptions SquaredDifferenceOptions MirrorPadOptions AbsOptions SplitVOptions ' +
  'UniqueOptions ReverseV2Options AddNOptions GatherNdOptions CosOptions WhereOptions ' +
  'RankOptions ReverseSequenceOptions MatrixDiagOptions QuantizeOptions MatrixSetDiagOptions ' +
  'HardSwishOptions IfOptions WhileOptions DepthToSpaceOptions NonMaxSuppressionV4Options ' +
  'NonMaxSuppressionV5Options ScatterNdOptions SelectV2Options DensifyOptions ' +
  'SegmentSumOptions BatchMatMulOptions CumsumOptions CallOnceOptions BroadcastToOptions ' +
  'Rfft2dOptions Conv3DOptions HashtableOptions HashtableFindOptions HashtableImportOptions ' +
  'HashtableSizeOptions VarHandleOptions ReadVariableOptions AssignVariableOptions ' +
  'RandomOptions BucketizeOptions GeluOptions DynamicUpdateSliceOptions ' +
  'UnsortedSegmentProdOptions UnsortedSegmentMaxOptions UnsortedSegmentMinOptions ' +
  'UnsortedSegmentSumOptions ATan2Options SignOptions BitcastOptions BitwiseXorOptions ' +
  'RightShiftOptions'
).split(' ');

export function optionsName(unionType: number): string | undefined {
  if (unionType === 0) return undefined;
  return OPTIONS_NAMES[unionType - 1] ?? `UnknownOptions${unionType}`;
}

/** Union type bytes of the option tables the writer emits. */
export const Options = {
  Conv2DOptions: 1,
  DepthwiseConv2DOptions: 2,
  Pool2DOptions: 5,
  FullyConnectedOptions: 8,
  SoftmaxOptions: 9,
  AddOptions: 11,
  ReshapeOptions: 17,
  DequantizeOptions: 38,
  QuantizeOptions: 89,
} as const;

export const Padding = { SAME: 0, VALID: 1 } as const;
export const PADDING_NAMES = ['SAME', 'VALID'];

export const Activation = { NONE: 0, RELU: 1, RELU_N1_TO_1: 2, RELU6: 3, TANH: 4, SIGN_BIT: 5 } as const;
export const ACTIVATION_NAMES = ['NONE', 'RELU', 'RELU_N1_TO_1', 'RELU6', 'TANH', 'SIGN_BIT'];

/** Field ids per table (declaration order in schema.fbs). */
export const F = {
  Model: { version: 0, operatorCodes: 1, subgraphs: 2, description: 3, buffers: 4, metadataBuffer: 5, metadata: 6, signatureDefs: 7 },
  OperatorCode: { deprecatedBuiltinCode: 0, customCode: 1, version: 2, builtinCode: 3 },
  SubGraph: { tensors: 0, inputs: 1, outputs: 2, operators: 3, name: 4 },
  Tensor: { shape: 0, type: 1, buffer: 2, name: 3, quantization: 4, isVariable: 5, sparsity: 6, shapeSignature: 7, hasRank: 8 },
  Quantization: { min: 0, max: 1, scale: 2, zeroPoint: 3, detailsType: 4, details: 5, quantizedDimension: 6 },
  Operator: { opcodeIndex: 0, inputs: 1, outputs: 2, builtinOptionsType: 3, builtinOptions: 4, customOptions: 5, builtinOptions2Type: 11 },
  Buffer: { data: 0, offset: 1, size: 2 },
  Metadata: { name: 0, buffer: 1 },
  SignatureDef: { inputs: 0, outputs: 1, signatureKey: 2, subgraphIndex: 4 },
  Conv2DOptions: { padding: 0, strideW: 1, strideH: 2, activation: 3, dilationW: 4, dilationH: 5 },
  DepthwiseConv2DOptions: { padding: 0, strideW: 1, strideH: 2, depthMultiplier: 3, activation: 4, dilationW: 5, dilationH: 6 },
  Pool2DOptions: { padding: 0, strideW: 1, strideH: 2, filterWidth: 3, filterHeight: 4, activation: 5 },
  FullyConnectedOptions: { activation: 0, weightsFormat: 1, keepNumDims: 2, asymmetricQuantizeInputs: 3 },
  SoftmaxOptions: { beta: 0 },
  AddOptions: { activation: 0, potScaleInt16: 1 },
  ReshapeOptions: { newShape: 0 },
  /** Shared by the options tables that only carry a fused activation (Mul, Sub, Div, ...). */
  ActivationOnly: { activation: 0 },
  ConcatenationOptions: { axis: 0, activation: 1 },
  ReducerOptions: { keepDims: 0 },
} as const;
