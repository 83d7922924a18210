// The GPU's read bandwidth as onnxruntime's WebGPU provider reaches it, measured in the same run:
// one large float32 tensor [rows, 16384] is uploaded once (kept on the GPU, as the runtime keeps its
// cache), then a ReduceSum of each row is timed; the best of several passes counts. Row sums, not
// one total: onnxruntime's WebGPU reduction runs one workgroup per output element, so a single sum
// would time one compute unit instead of the memory. The row sums' read-back (4 bytes per 64 KiB
// read) is noise. It is what a kernel of
// this runtime can stream, so it can sit below the datasheet figure (--bandwidth-gbs overrides).
// Runs in its own child process so the benchmark's parent never holds a GPU context.
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { GraphBuilder } from '../../runtime/graph/onnx';
import { childMain, isEntry } from './child';

export interface GpuBandwidthJob {
  /** bytes of the streamed tensor */
  bytes: number;
  passes: number;
}

export interface GpuBandwidth {
  bytes: number;
  passes: number;
  readGBps: number;
}

export async function measureGpuBandwidth(job: GpuBandwidthJob): Promise<GpuBandwidth> {
  const cols = 16384;
  const rows = Math.floor(job.bytes / 4 / cols);
  const upload = new GraphBuilder();
  upload.output('y', upload.op('Identity', [upload.input('x', 'float', ['r', cols])]), 'float', ['r', cols]);
  const sum = new GraphBuilder();
  sum.output('s', sum.op('ReduceSum', [sum.input('x', 'float', ['r', cols]), sum.constI64([1])], { keepdims: 0 }), 'float', ['r']);
  const options = { executionProviders: ['webgpu'], logSeverityLevel: 3 as const };
  const uploader = await InferenceSession.create(upload.toBytes('upload'), { ...options, preferredOutputLocation: 'gpu-buffer' });
  const reducer = await InferenceSession.create(sum.toBytes('read'), options);
  const onGpu = (await uploader.run({ x: new Tensor('float32', new Float32Array(rows * cols).fill(1), [rows, cols]) })).y;
  let best = Infinity;
  await reducer.run({ x: onGpu }); // compiles the kernel
  for (let i = 0; i < job.passes; i++) {
    const t0 = performance.now();
    await reducer.run({ x: onGpu }); // the row sums' read-back waits for the GPU to finish
    best = Math.min(best, performance.now() - t0);
  }
  onGpu.dispose();
  await uploader.release();
  await reducer.release();
  const bytes = rows * cols * 4;
  return { bytes, passes: job.passes, readGBps: bytes / 1e9 / (best / 1000) };
}

if (isEntry(__filename)) childMain(measureGpuBandwidth);
