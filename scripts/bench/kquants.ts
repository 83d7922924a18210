// ggml's K-quant blocks (Q4_K, Q5_K, Q6_K), written by a simple quantizer of ours: the byte
// layouts are ggml's (runtime/model/gguf/dequantize.ts is the exact decoding these invert), the
// choice of scales is not. ggml searches scales iteratively (make_qkx2_quants); here every
// sub-block takes its min/max range, and the 6-bit (8-bit for Q6_K) sub-block scales and the
// float16 super-block scales are rounded *up*, so the representable range always covers the
// sub-block: every value then decodes within half of its sub-block's step, with no clamping.
//
//   Q4_K  [d f16][dmin f16][scales 12][qs 128]           8 sub-blocks of 32: x = d sc q - dmin m, q 0..15
//   Q5_K  [d f16][dmin f16][scales 12][qh 32][qs 128]    the same with q 0..31 (fifth bit in qh)
//   Q6_K  [ql 128][qh 64][scales 16 x i8][d f16]         16 sub-blocks of 16: x = d sc (q - 32), q 0..63
import { floatToHalf, halfToFloat } from '../../runtime/model/safetensors';

/** Values per K-quant super-block. */
export const QK_K = 256;
export const K_BLOCK_BYTES = { Q4_K: 144, Q5_K: 176, Q6_K: 210 } as const;

const f = Math.fround;

/** The smallest float16 (as its bits) not below v >= 0: scales rounded up keep the range covered. */
function halfAtLeast(v: number): number {
  let h = floatToHalf(v);
  while (halfToFloat(h) < v) h++;
  return h;
}

/**
 * Sub-block j's 6-bit scale and min into ggml's 12 bytes (the inverse of get_scale_min_k4):
 * bytes 0-3 hold scales 0-3, bytes 4-7 mins 0-3, each with two high bits of scale / min j + 4 on
 * top; bytes 8-11 hold the low nibbles of scale j + 4 (low) and min j + 4 (high).
 */
function packScales(out: Uint8Array, at: number, sc: Uint8Array, m: Uint8Array): void {
  for (let j = 0; j < 4; j++) {
    out[at + j] = sc[j] | ((sc[j + 4] >> 4) << 6);
    out[at + j + 4] = m[j] | ((m[j + 4] >> 4) << 6);
    out[at + j + 8] = (sc[j + 4] & 0xf) | ((m[j + 4] & 0xf) << 4);
  }
}

/** Q4_K / Q5_K codes of one super-block: q[i] in 0..maxq, with the header (d, dmin, scales) written. */
function quantizeWithMin(x: Float32Array, from: number, out: Uint8Array, at: number, maxq: number, q: Uint8Array): void {
  const view = new DataView(out.buffer, out.byteOffset);
  const need = new Float64Array(8); // -min of each sub-block (mins are subtracted, so min <= 0 is stored as m >= 0)
  const hi = new Float64Array(8);
  for (let j = 0; j < 8; j++) {
    let lo = 0;
    let top = -Infinity;
    for (let l = 0; l < 32; l++) {
      const v = x[from + 32 * j + l];
      lo = Math.min(lo, v);
      top = Math.max(top, v);
    }
    need[j] = -lo;
    hi[j] = top;
  }
  const dminBits = halfAtLeast(Math.max(...need) / 63);
  const dmin = halfToFloat(dminBits);
  const m = new Uint8Array(8);
  const min1 = new Float64Array(8);
  const range = new Float64Array(8);
  for (let j = 0; j < 8; j++) {
    m[j] = dmin ? Math.min(63, Math.ceil(need[j] / dmin)) : 0;
    min1[j] = f(dmin * m[j]);
    range[j] = Math.max(0, hi[j] + min1[j]);
  }
  const dBits = halfAtLeast(Math.max(...range) / (maxq * 63));
  const d = halfToFloat(dBits);
  const sc = new Uint8Array(8);
  for (let j = 0; j < 8; j++) {
    sc[j] = d ? Math.min(63, Math.ceil(range[j] / (maxq * d))) : 0;
    const d1 = f(d * sc[j]);
    for (let l = 0; l < 32; l++) {
      const i = 32 * j + l;
      q[i] = d1 ? Math.max(0, Math.min(maxq, Math.round((x[from + i] + min1[j]) / d1))) : 0;
    }
  }
  view.setUint16(at, dBits, true);
  view.setUint16(at + 2, dminBits, true);
  packScales(out, at + 4, sc, m);
}

/** Chunk c of 64 values: byte l holds value 64c + l in its low nibble and 64c + 32 + l in its high one. */
function packNibbles(q: Uint8Array, out: Uint8Array, at: number): void {
  for (let c = 0; c < 4; c++) for (let l = 0; l < 32; l++) out[at + 32 * c + l] = (q[64 * c + l] & 0xf) | ((q[64 * c + 32 + l] & 0xf) << 4);
}

export function quantizeQ4_K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK_K) * K_BLOCK_BYTES.Q4_K);
  const q = new Uint8Array(QK_K);
  for (let b = 0, at = 0; b < x.length; b += QK_K, at += K_BLOCK_BYTES.Q4_K) {
    quantizeWithMin(x, b, out, at, 15, q);
    packNibbles(q, out, at + 16);
  }
  return out;
}

export function quantizeQ5_K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK_K) * K_BLOCK_BYTES.Q5_K);
  const q = new Uint8Array(QK_K);
  for (let b = 0, at = 0; b < x.length; b += QK_K, at += K_BLOCK_BYTES.Q5_K) {
    quantizeWithMin(x, b, out, at, 31, q);
    // qh[l]: bit 2c is the fifth bit of value 64c + l, bit 2c + 1 that of value 64c + 32 + l.
    for (let c = 0; c < 4; c++)
      for (let l = 0; l < 32; l++) out[at + 16 + l] |= ((q[64 * c + l] >> 4) << (2 * c)) | ((q[64 * c + 32 + l] >> 4) << (2 * c + 1));
    packNibbles(q, out, at + 48);
  }
  return out;
}

export function quantizeQ6_K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK_K) * K_BLOCK_BYTES.Q6_K);
  const view = new DataView(out.buffer);
  const q = new Uint8Array(QK_K);
  const need = new Float64Array(16);
  for (let b = 0, at = 0; b < x.length; b += QK_K, at += K_BLOCK_BYTES.Q6_K) {
    // Symmetric: codes -32..31 around zero; a sub-block's largest magnitude maps to at most 31 steps.
    for (let j = 0; j < 16; j++) {
      let amax = 0;
      for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(x[b + 16 * j + l]));
      need[j] = amax / 31;
    }
    const dBits = halfAtLeast(Math.max(...need) / 127);
    const d = halfToFloat(dBits);
    for (let j = 0; j < 16; j++) {
      const sc = d ? Math.min(127, Math.ceil(need[j] / d)) : 0;
      out[at + 192 + j] = sc; // int8, always >= 0 here
      const d1 = f(d * sc);
      for (let l = 0; l < 16; l++) q[16 * j + l] = 32 + (d1 ? Math.max(-32, Math.min(31, Math.round(x[b + 16 * j + l] / d1))) : 0);
    }
    view.setUint16(at + 208, dBits, true);
    // Each half of 128 values: ql[64] low nibbles (values l and l + 64 share byte l, l + 32 and
    // l + 96 byte l + 32), qh[32] the top two bits of values l, l + 32, l + 64, l + 96.
    for (let h = 0; h < 2; h++) {
      const v = 128 * h;
      const ql = at + 64 * h;
      const qh = at + 128 + 32 * h;
      for (let l = 0; l < 32; l++) {
        out[ql + l] = (q[v + l] & 0xf) | ((q[v + l + 64] & 0xf) << 4);
        out[ql + l + 32] = (q[v + l + 32] & 0xf) | ((q[v + l + 96] & 0xf) << 4);
        out[qh + l] = (q[v + l] >> 4) | ((q[v + l + 32] >> 4) << 2) | ((q[v + l + 64] >> 4) << 4) | ((q[v + l + 96] >> 4) << 6);
      }
    }
  }
  return out;
}
