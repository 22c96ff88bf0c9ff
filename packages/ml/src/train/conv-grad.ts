/**
 * The filter gradient of a 2-D convolution for tfjs' wasm backend, which ships every kernel a
 * small CNN needs to train except this one. Without it training ran on the pure-JS cpu backend,
 * whose Conv2DBackpropFilter walks tensors element by element through index arithmetic and took
 * about 70% of a digits CNN epoch.
 *
 * It is im2col plus one matrix product: the input patches each output pixel saw are laid out as
 * rows of a [N*outH*outW, kh*kw*inC] matrix P, and dW = P^T . dy, where dy is [N*outH*outW,
 * outC]. The patches are written in JS straight into wasm memory; the product runs in the wasm
 * backend's own BatchMatMul (XNNPACK, SIMD), so the heavy part is native and deterministic.
 */
import type { Tfjs, tf } from './backend.js';

const KERNEL = 'Conv2DBackpropFilter';

/** The wasm backend methods this kernel uses; its class is not exported by the package. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(dataId: tf.TensorInfo['dataId']): boolean;
}

interface Attrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/** Registers the kernel on the wasm backend once per process (tfjs' kernel registry is global). */
export function registerWasmConvGradients(tf: Tfjs): void {
  if (tf.getKernel(KERNEL, 'wasm')) return;
  const matMul = tf.getKernel('BatchMatMul', 'wasm');
  const reshape = tf.getKernel('Reshape', 'wasm');
  if (!matMul || !reshape) throw new Error('the tfjs wasm backend has no BatchMatMul or Reshape kernel');

  tf.registerKernel({
    kernelName: KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const wasm = backend as WasmBackend;
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const a = attrs as unknown as Attrs;
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        a.filterShape,
        a.strides,
        1,
        a.pad,
        a.dimRoundingMode,
        false,
        tf.backend_util.convertConv2DDataFormat(a.dataFormat),
      );
      // Keras layers are channels-last; channels-first would need its own patch layout.
      if (info.dataFormat !== 'channelsLast') throw new Error(`${KERNEL} on wasm supports NHWC only, got ${a.dataFormat}`);
      const rows = info.batchSize * info.outHeight * info.outWidth;
      const cols = info.filterHeight * info.filterWidth * info.inChannels;

      const patches = wasm.makeOutput([1, rows, cols], 'float32');
      // Views are taken after the allocation: growing wasm memory detaches earlier ones.
      im2col(wasm.typedArrayFromHeap(patches), wasm.typedArrayFromHeap(x), info);
      const dy3 = reshape.kernelFunc({ inputs: { x: dy }, backend, attrs: { shape: [1, rows, info.outChannels] } }) as tf.TensorInfo;
      const product = matMul.kernelFunc({ inputs: { a: patches, b: dy3 }, backend, attrs: { transposeA: true, transposeB: false } }) as tf.TensorInfo;
      const out = reshape.kernelFunc({ inputs: { x: product }, backend, attrs: { shape: a.filterShape } }) as tf.TensorInfo;
      for (const t of [patches, dy3, product]) wasm.disposeData(t.dataId);
      return out;
    },
  });
}

/** Writes the [N*outH*outW, kh*kw*inC] patch matrix of an NHWC input; padding reads as zero. */
function im2col(p: Float32Array, x: Float32Array, c: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } = c;
  const top = c.padInfo.top;
  const left = c.padInfo.left;
  let o = 0;
  for (let b = 0; b < batchSize; b++) {
    const xBatch = b * inHeight * inWidth * inChannels;
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        for (let fy = 0; fy < filterHeight; fy++) {
          const iy = oy * strideHeight - top + fy * dilationHeight;
          for (let fx = 0; fx < filterWidth; fx++) {
            const ix = ox * strideWidth - left + fx * dilationWidth;
            if (iy < 0 || iy >= inHeight || ix < 0 || ix >= inWidth) {
              p.fill(0, o, o + inChannels);
            } else {
              // A plain loop: a subarray per pixel costs more than the copy when channels are few.
              const at = xBatch + (iy * inWidth + ix) * inChannels;
              for (let ch = 0; ch < inChannels; ch++) p[o + ch] = x[at + ch]!;
            }
            o += inChannels;
          }
        }
      }
    }
  }
}
