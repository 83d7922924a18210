// A weight matrix quantized for MatMulNBits (quantize.ts) a slab of rows at a time: rows are
// quantized independently, so the slabs' codes, scales and zero points laid end to end are the
// whole matrix's, while the load holds at most SLAB_VALUES float32 values of it.
import { quantizeBlockwise, type QuantizedWeight, type WeightBits } from './quantize';
import { readRows, type TensorRef } from './weights';

/** 16M values: 64 MiB of float32 per slab. */
const SLAB_VALUES = 1 << 24;

export function quantizeTensor(ref: TensorRef, bits: WeightBits, slabValues = SLAB_VALUES): QuantizedWeight {
  const [N, K] = ref.shape;
  const step = Math.max(1, Math.floor(slabValues / K));
  const slabs: QuantizedWeight[] = [];
  for (let r = 0; r < N; r += step) {
    const n = Math.min(step, N - r);
    slabs.push(quantizeBlockwise(readRows(ref, r, r + n), n, K, bits));
  }
  if (slabs.length === 1) return slabs[0];
  const join = <T extends Uint8Array | Float32Array>(parts: T[], Kind: { new (n: number): T }): T => {
    const out = new Kind(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
  };
  return {
    N,
    K,
    bits,
    blockSize: slabs[0].blockSize,
    codes: join(slabs.map((q) => q.codes), Uint8Array),
    scales: join(slabs.map((q) => q.scales), Float32Array),
    zeroPoints: join(slabs.map((q) => q.zeroPoints), Uint8Array),
  };
}
