// Block-wise weight quantization in the layout of onnxruntime's com.microsoft MatMulNBits:
// W [N, K] (HF's [out, in]) is cut along K into blocks of `blockSize`; each block of each row
// stores `bits`-bit codes q with its own float scale and zero point, w ≈ (q - zero) * scale.
// Asymmetric (min/max) codes keep the error per block at half a step.

export type WeightBits = 4 | 8;

export interface QuantizedWeight {
  N: number;
  K: number;
  bits: WeightBits;
  blockSize: number;
  /** [N, blocks, blockSize * bits / 8] codes; 4-bit codes pack two per byte, low nibble first. */
  codes: Uint8Array;
  /** [N * blocks] */
  scales: Float32Array;
  /** [N * ceil(blocks * bits / 8)] zero points, packed like the codes. */
  zeroPoints: Uint8Array;
}

export function quantizeBlockwise(w: Float32Array, N: number, K: number, bits: WeightBits, blockSize = 32): QuantizedWeight {
  const blocks = Math.ceil(K / blockSize);
  const blob = (blockSize * bits) / 8;
  const zpRow = Math.ceil((blocks * bits) / 8);
  const maxCode = (1 << bits) - 1;
  const codes = new Uint8Array(N * blocks * blob);
  const scales = new Float32Array(N * blocks);
  const zeroPoints = new Uint8Array(N * zpRow);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const from = n * K + b * blockSize;
      const len = Math.min(blockSize, K - b * blockSize);
      let lo = 0; // the range always includes 0 so that zero weights (and padding) stay exact
      let hi = 0;
      for (let i = 0; i < len; i++) {
        lo = Math.min(lo, w[from + i]);
        hi = Math.max(hi, w[from + i]);
      }
      const scale = hi > lo ? (hi - lo) / maxCode : 1;
      const zero = Math.min(maxCode, Math.max(0, Math.round(-lo / scale)));
      scales[n * blocks + b] = scale;
      put(zeroPoints, n * zpRow, b, bits, zero);
      const base = (n * blocks + b) * blob;
      for (let i = 0; i < blockSize; i++) {
        const q = i < len ? Math.min(maxCode, Math.max(0, Math.round(w[from + i] / scale) + zero)) : zero;
        put(codes, base, i, bits, q);
      }
    }
  }
  return { N, K, bits, blockSize, codes, scales, zeroPoints };
}

/** w ≈ (q - zero) * scale, back to [N, K] (what MatMulNBits computes with; the tests check the round trip). */
export function dequantize(q: QuantizedWeight): Float32Array {
  const { N, K, bits, blockSize } = q;
  const blocks = Math.ceil(K / blockSize);
  const blob = (blockSize * bits) / 8;
  const zpRow = Math.ceil((blocks * bits) / 8);
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++)
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / blockSize);
      const code = get(q.codes, (n * blocks + b) * blob, k % blockSize, bits);
      out[n * K + k] = (code - get(q.zeroPoints, n * zpRow, b, bits)) * q.scales[n * blocks + b];
    }
  return out;
}

function put(buf: Uint8Array, base: number, i: number, bits: WeightBits, v: number): void {
  if (bits === 8) buf[base + i] = v;
  else buf[base + (i >> 1)] |= (i & 1) === 0 ? v : v << 4;
}

function get(buf: Uint8Array, base: number, i: number, bits: WeightBits): number {
  if (bits === 8) return buf[base + i];
  const byte = buf[base + (i >> 1)];
  return (i & 1) === 0 ? byte & 15 : byte >> 4;
}
