// A weight matrix in MatMulNBits' block layout (quantize.ts), a slab of rows at a time: rows are
// quantized independently, so the slabs' codes, scales and zero points laid end to end are the
// whole matrix's, while the load holds at most SLAB_VALUES float32 values of it.
//
// GGUF blocks that already are that layout move over exactly, with no second rounding:
//   Q8_0 -> 8 bits: x = d q (q int8)      = (u - 128) d with u = q + 128, zero point 128
//   Q4_0 -> 4 bits: x = d (q - 8)         zero point 8; only the nibble order differs
// Anything else (floats, K-quants) is decoded to float32 and quantized block-wise.
import { halfToFloat } from './safetensors';
import { quantizeBlockwise, type QuantizedWeight, type WeightBits } from './quantize';
import { readRows, readTensorBytes, type TensorRef } from './weights';

/** 16M values: 64 MiB of float32 per slab. */
const SLAB_VALUES = 1 << 24;
const QK = 32;

/** Whether a tensor stored as `dtype` moves into `bits`-bit blocks exactly (no second rounding). */
export function movesExactly(dtype: TensorRef['dtype'], bits: WeightBits | undefined): boolean {
  return (dtype === 'Q8_0' && bits === 8) || (dtype === 'Q4_0' && bits === 4);
}

export function quantizeTensor(ref: TensorRef, bits: WeightBits, slabValues = SLAB_VALUES): QuantizedWeight {
  const [N, K] = ref.shape;
  if (movesExactly(ref.dtype, bits)) return ref.dtype === 'Q8_0' ? fromQ8_0(readTensorBytes(ref), N, K) : fromQ4_0(readTensorBytes(ref), N, K);
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

function fromQ8_0(b: Uint8Array, N: number, K: number): QuantizedWeight {
  const blocks = K / QK;
  const codes = new Uint8Array(N * K);
  const scales = new Float32Array(N * blocks);
  for (let blk = 0; blk < N * blocks; blk++) {
    const at = blk * (2 + QK);
    scales[blk] = halfToFloat(b[at] | (b[at + 1] << 8));
    for (let j = 0; j < QK; j++) codes[blk * QK + j] = (b[at + 2 + j] + 128) & 0xff; // int8 q -> q + 128
  }
  return { N, K, bits: 8, blockSize: QK, codes, scales, zeroPoints: new Uint8Array(N * blocks).fill(128) };
}

function fromQ4_0(b: Uint8Array, N: number, K: number): QuantizedWeight {
  const blocks = K / QK;
  const codes = new Uint8Array((N * K) / 2);
  const scales = new Float32Array(N * blocks);
  for (let blk = 0; blk < N * blocks; blk++) {
    const at = blk * (2 + QK / 2);
    scales[blk] = halfToFloat(b[at] | (b[at + 1] << 8));
    // ggml: byte j holds value j (low nibble) and j + 16 (high); MatMulNBits: byte i holds values 2i, 2i + 1.
    const q = (i: number) => (i < 16 ? b[at + 2 + i] & 0xf : b[at + 2 + i - 16] >> 4);
    for (let i = 0; i < QK / 2; i++) codes[blk * (QK / 2) + i] = q(2 * i) | (q(2 * i + 1) << 4);
  }
  const zpRow = Math.ceil(blocks / 2);
  const zeroPoints = new Uint8Array(N * zpRow);
  for (let n = 0; n < N; n++) for (let blk = 0; blk < blocks; blk++) zeroPoints[n * zpRow + (blk >> 1)] |= 8 << (4 * (blk & 1));
  return { N, K, bits: 4, blockSize: QK, codes, scales, zeroPoints };
}
