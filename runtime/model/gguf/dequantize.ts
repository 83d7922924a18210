// ggml's block formats decoded to float32, value for value as ggml's reference dequantizers
// (dequantize_row_* in ggml-quants.c) compute them: products in float32, scales from float16.
//
//   Q8_0  [d f16][32 x i8]                          x = d q
//   Q4_0  [d f16][16 bytes]                         x = d (q - 8); byte j: value j low, j + 16 high
//   Q4_K  [d f16][dmin f16][12 scale bytes][128]    8 sub-blocks of 32: x = d sc q - dmin m (6-bit sc, m)
//   Q5_K  [d f16][dmin f16][12][qh 32][qs 128]      as Q4_K with a fifth bit from qh
//   Q6_K  [ql 128][qh 64][16 x i8 scales][d f16]    16 sub-blocks of 16: x = d sc (q - 32)
import { decodeFloats, halfToFloat } from '../safetensors';
import type { GgmlType } from './types';

const f = Math.fround;

/** `n` values of `type` from `bytes` (exactly the tensor's bytes). */
export function dequantize(type: GgmlType, bytes: Uint8Array, n: number): Float32Array {
  switch (type.name) {
    case 'F32':
      return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n * 4));
    case 'F16':
      return decodeFloats(bytes, 'F16');
    case 'BF16':
      return decodeFloats(bytes, 'BF16');
    case 'Q8_0':
      return q8_0(bytes, n);
    case 'Q4_0':
      return q4_0(bytes, n);
    case 'Q4_K':
      return affineK(bytes, n, false);
    case 'Q5_K':
      return affineK(bytes, n, true);
    case 'Q6_K':
      return q6K(bytes, n);
    default:
      throw new Error(`ggml type ${type.name} cannot be decoded`);
  }
}

const half = (b: Uint8Array, at: number) => halfToFloat(b[at] | (b[at + 1] << 8));

function q8_0(b: Uint8Array, n: number): Float32Array {
  const y = new Float32Array(n);
  for (let blk = 0, at = 0; blk < n; blk += 32, at += 34) {
    const d = half(b, at);
    for (let j = 0; j < 32; j++) y[blk + j] = f(d * ((b[at + 2 + j] << 24) >> 24));
  }
  return y;
}

function q4_0(b: Uint8Array, n: number): Float32Array {
  const y = new Float32Array(n);
  for (let blk = 0, at = 0; blk < n; blk += 32, at += 18) {
    const d = half(b, at);
    for (let j = 0; j < 16; j++) {
      const q = b[at + 2 + j];
      y[blk + j] = f(d * ((q & 0xf) - 8));
      y[blk + j + 16] = f(d * ((q >> 4) - 8));
    }
  }
  return y;
}

/** Sub-block j's 6-bit scale and min from the 12 packed bytes at `s` (ggml's get_scale_min_k4). */
function scaleMin(b: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [b[s + j] & 63, b[s + j + 4] & 63];
  return [(b[s + j + 4] & 0xf) | ((b[s + j - 4] >> 6) << 4), (b[s + j + 4] >> 4) | ((b[s + j] >> 6) << 4)];
}

/**
 * Q4_K and Q5_K: super-blocks of 256 as 8 sub-blocks of 32, x = d sc q - dmin m; Q5_K adds a fifth
 * bit per value from qh (bit 2p for the first sub-block of pair p, 2p + 1 for the second).
 */
function affineK(b: Uint8Array, n: number, fifthBit: boolean): Float32Array {
  const y = new Float32Array(n);
  const blockBytes = fifthBit ? 176 : 144;
  for (let blk = 0, at = 0; blk < n; blk += 256, at += blockBytes) {
    const d = half(b, at);
    const dmin = half(b, at + 2);
    const scales = at + 4;
    const qh = at + 16;
    let ql = at + (fifthBit ? 48 : 16);
    for (let pair = 0, out = blk; pair < 4; pair++, ql += 32, out += 64) {
      const [sc1, m1] = scaleMin(b, scales, 2 * pair);
      const [sc2, m2] = scaleMin(b, scales, 2 * pair + 1);
      const d1 = f(d * sc1);
      const min1 = f(dmin * m1);
      const d2 = f(d * sc2);
      const min2 = f(dmin * m2);
      const hi1 = fifthBit ? 1 << (2 * pair) : 0;
      const hi2 = fifthBit ? 2 << (2 * pair) : 0;
      for (let l = 0; l < 32; l++) {
        y[out + l] = f(f(d1 * ((b[ql + l] & 0xf) + (b[qh + l] & hi1 ? 16 : 0))) - min1);
        y[out + 32 + l] = f(f(d2 * ((b[ql + l] >> 4) + (b[qh + l] & hi2 ? 16 : 0))) - min2);
      }
    }
  }
  return y;
}

function q6K(b: Uint8Array, n: number): Float32Array {
  const y = new Float32Array(n);
  for (let blk = 0, at = 0; blk < n; blk += 256, at += 210) {
    const d = half(b, at + 208);
    let ql = at;
    let qh = at + 128;
    let sc = at + 192;
    for (let half128 = 0, out = blk; half128 < 256; half128 += 128, ql += 64, qh += 32, sc += 8, out += 128) {
      const scale = (i: number) => (b[sc + i] << 24) >> 24; // int8
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const q1 = ((b[ql + l] & 0xf) | (((b[qh + l] >> 0) & 3) << 4)) - 32;
        const q2 = ((b[ql + l + 32] & 0xf) | (((b[qh + l] >> 2) & 3) << 4)) - 32;
        const q3 = ((b[ql + l] >> 4) | (((b[qh + l] >> 4) & 3) << 4)) - 32;
        const q4 = ((b[ql + l + 32] >> 4) | (((b[qh + l] >> 6) & 3) << 4)) - 32;
        y[out + l] = f(f(d * scale(is)) * q1);
        y[out + l + 32] = f(f(d * scale(is + 2)) * q2);
        y[out + l + 64] = f(f(d * scale(is + 4)) * q3);
        y[out + l + 96] = f(f(d * scale(is + 6)) * q4);
      }
    }
  }
  return y;
}
