// KIVI-style cache quantization (Liu et al., 2024) as docs/compression.md fixes it: keys per
// channel over groups of 32 tokens, values per token over groups of channels; min/max codes of
// b bits with float16 scale and minimum; codes packed along channels, lowest bits first. The
// layout's sizes (group sizes, row bytes) are in core/kiviLayout.ts.
import { KEY_GROUP, rowBytes, valueGroup, type KvBits } from '../../core/kiviLayout';
import { floatToHalf, halfToFloat } from '../model/safetensors';

/** One min/max group: returns [scale16, min16] as half bits, and codes via `put`. */
function quantizeGroup(values: (i: number) => number, n: number, bits: KvBits, put: (i: number, q: number) => void): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = values(i);
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  const maxCode = (1 << bits) - 1;
  const s16 = floatToHalf((hi - lo) / maxCode);
  const m16 = floatToHalf(lo);
  const s = halfToFloat(s16);
  const m = halfToFloat(m16);
  for (let i = 0; i < n; i++) put(i, s === 0 ? 0 : Math.min(maxCode, Math.max(0, Math.round((values(i) - m) / s))));
  return [s16, m16];
}

function pack(codes: Uint8Array, rowStart: number, c: number, bits: KvBits, q: number): void {
  const per = 8 / bits;
  codes[rowStart + Math.floor(c / per)] |= q << ((c % per) * bits);
}

function unpack(codes: Uint8Array, rowStart: number, c: number, bits: KvBits): number {
  const per = 8 / bits;
  return (codes[rowStart + Math.floor(c / per)] >> ((c % per) * bits)) & ((1 << bits) - 1);
}

/**
 * Keys: 32 token rows [32, C] (float32, row-major) -> codes [32, rowBytes(C)] plus per-channel
 * scale and min [C] (float16 bits), written at the given offsets.
 */
export function quantizeKeyGroup(
  x: Float32Array, xAt: number, C: number, bits: KvBits,
  codes: Uint8Array, codesAt: number, scales: Uint16Array, mins: Uint16Array, paramsAt: number,
): void {
  const R = rowBytes(C, bits);
  codes.fill(0, codesAt, codesAt + KEY_GROUP * R);
  for (let c = 0; c < C; c++) {
    const [s, m] = quantizeGroup((t) => x[xAt + t * C + c], KEY_GROUP, bits, (t, q) => pack(codes, codesAt + t * R, c, bits, q));
    scales[paramsAt + c] = s;
    mins[paramsAt + c] = m;
  }
}

/** Values: one token row [C] -> codes [rowBytes(C)] plus per-group scale and min [C / valueGroup(C)]. */
export function quantizeValueRow(
  x: Float32Array, xAt: number, C: number, bits: KvBits,
  codes: Uint8Array, codesAt: number, scales: Uint16Array, mins: Uint16Array, paramsAt: number,
): void {
  const g = valueGroup(C);
  codes.fill(0, codesAt, codesAt + rowBytes(C, bits));
  for (let k = 0; k < C / g; k++) {
    const [s, m] = quantizeGroup((i) => x[xAt + k * g + i], g, bits, (i, q) => pack(codes, codesAt, k * g + i, bits, q));
    scales[paramsAt + k] = s;
    mins[paramsAt + k] = m;
  }
}

/** x̂ = q s + m for a key group (tests and the reference compare against this). */
export function dequantizeKeyGroup(codes: Uint8Array, codesAt: number, C: number, bits: KvBits, scales: Uint16Array, mins: Uint16Array, paramsAt: number): Float32Array {
  const R = rowBytes(C, bits);
  const out = new Float32Array(KEY_GROUP * C);
  for (let t = 0; t < KEY_GROUP; t++)
    for (let c = 0; c < C; c++) out[t * C + c] = unpack(codes, codesAt + t * R, c, bits) * halfToFloat(scales[paramsAt + c]) + halfToFloat(mins[paramsAt + c]);
  return out;
}

export function dequantizeValueRow(codes: Uint8Array, codesAt: number, C: number, bits: KvBits, scales: Uint16Array, mins: Uint16Array, paramsAt: number): Float32Array {
  const g = valueGroup(C);
  const out = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const k = Math.floor(c / g);
    out[c] = unpack(codes, codesAt, c, bits) * halfToFloat(scales[paramsAt + k]) + halfToFloat(mins[paramsAt + k]);
  }
  return out;
}
