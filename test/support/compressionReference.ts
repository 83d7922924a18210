// The pure pieces of docs/compression.md, written plainly in float64 for the reference forward
// (reference.ts) and its unit tests. Deliberately independent of runtime/cache/evict.ts, kivi.ts and
// valuePrune.ts (only the float16 rounding is shared, from runtime/model/safetensors.ts), so exactness tests
// compare two separate readings of the document.
import { floatToHalf } from '../../runtime/model/safetensors';

/** Tokens per KIVI key group (and the size a compressed-token group must reach to be quantized). */
export const KIVI_GROUP = 32;

/** The value of IEEE half bits `h` (subnormals, infinities and NaN included). */
export function halfBitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** x rounded to the nearest float16 (ties to even), as a number. */
export function roundToHalf(x: number): number {
  return halfBitsToNumber(floatToHalf(x));
}

/** 1-D max-pool, stride 1, over |u - t| <= floor(kernel / 2), borders truncated. */
export function maxPool1d(a: ArrayLike<number>, kernel: number): Float64Array {
  const r = Math.floor(kernel / 2);
  const out = new Float64Array(a.length);
  for (let t = 0; t < a.length; t++) {
    let m = -Infinity;
    for (let u = t - r; u <= t + r; u++) if (u >= 0 && u < a.length && a[u] > m) m = a[u];
    out[t] = m;
  }
  return out;
}

/** The `budget` positions with the largest score (ties: lower position), ascending. */
export function topPositions(score: ArrayLike<number>, budget: number): number[] {
  const order = Array.from({ length: score.length }, (_, t) => t);
  order.sort((a, b) => score[b] - score[a] || a - b);
  return order.slice(0, budget).sort((a, b) => a - b);
}

/** SnapKV over the prefix masses `a` ([n - w]): the kept prefix positions, ascending. */
export function snapkvSelect(a: ArrayLike<number>, budget: number, kernel: number): number[] {
  return topPositions(maxPool1d(a, kernel), budget);
}

/** H2O over the prefix masses `a`: the heavy hitters, ascending. */
export function h2oSelect(a: ArrayLike<number>, budget: number): number[] {
  return topPositions(a, budget);
}

/** Channels per value-quantization group for a row of C kept channels: the largest divisor of C that is at most 32. */
export function valueGroupSize(C: number): number {
  for (let g = Math.min(KIVI_GROUP, C); g >= 1; g--) if (C % g === 0) return g;
  throw new Error(`valueGroupSize: no channels (C = ${C})`);
}

export interface QuantizedGroup {
  /** float16-rounded scale and minimum, as numbers. */
  scale: number;
  min: number;
  codes: number[];
}

/**
 * KIVI min/max quantization of one group: s = (M - m) / (2^b - 1) and m rounded to float16,
 * q = clamp(round((x - m16) / s16), 0, 2^b - 1), and q = 0 everywhere when s16 = 0.
 */
export function kiviQuantize(xs: ArrayLike<number>, bits: 2 | 4): QuantizedGroup {
  if (xs.length === 0) throw new Error('kiviQuantize: empty group');
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    if (xs[i] < lo) lo = xs[i];
    if (xs[i] > hi) hi = xs[i];
  }
  const top = 2 ** bits - 1;
  const scale = roundToHalf((hi - lo) / top);
  const min = roundToHalf(lo);
  const codes = Array.from(xs, (x) => (scale === 0 ? 0 : Math.min(top, Math.max(0, Math.round((x - min) / scale)))));
  return { scale, min, codes };
}

/** x̂ = q s16 + m16. */
export function kiviDequantize(g: QuantizedGroup): number[] {
  return g.codes.map((q) => q * g.scale + g.min);
}

/** Codes of one row packed along channels, 8 / b per byte, lowest bits first: ceil(C b / 8) bytes. */
export function packCodes(codes: ArrayLike<number>, bits: 2 | 4): Uint8Array {
  const per = 8 / bits;
  const out = new Uint8Array(Math.ceil((codes.length * bits) / 8));
  for (let c = 0; c < codes.length; c++) {
    const q = codes[c];
    if (!(Number.isInteger(q) && q >= 0 && q < 2 ** bits)) throw new Error(`packCodes: code ${q} does not fit ${bits} bits`);
    out[Math.floor(c / per)] |= q << ((c % per) * bits);
  }
  return out;
}

export function unpackCodes(bytes: Uint8Array, C: number, bits: 2 | 4): number[] {
  const per = 8 / bits;
  return Array.from({ length: C }, (_, c) => (bytes[Math.floor(c / per)] >> ((c % per) * bits)) & (2 ** bits - 1));
}

/**
 * Per KV head [Hkv][D]: sum over the head's query heads i of ||W_o[:, i D + j]||^2, from W_o in
 * the HF [hidden, Hq * D] layout.
 */
export function outputEnergy(o: Float64Array, hidden: number, queryHeads: number, kvHeads: number, D: number): Float64Array[] {
  const cols = queryHeads * D;
  if (o.length !== hidden * cols) throw new Error(`outputEnergy: W_o has ${o.length} elements, expected ${hidden} x ${cols}`);
  const group = queryHeads / kvHeads;
  const out = Array.from({ length: kvHeads }, () => new Float64Array(D));
  for (let r = 0; r < hidden; r++)
    for (let c = 0; c < cols; c++) out[Math.floor(Math.floor(c / D) / group)][c % D] += o[r * cols + c] ** 2;
  return out;
}

/** s_j = energy_j x sum over tokens t of mass_t v_{t,j}^2 (values: one [D] row per token). */
export function valueChannelScores(values: readonly ArrayLike<number>[], mass: readonly number[], energy: ArrayLike<number>): number[] {
  if (values.length !== mass.length) throw new Error(`valueChannelScores: ${values.length} value rows, ${mass.length} masses`);
  const D = energy.length;
  const s = new Array<number>(D).fill(0);
  values.forEach((v, t) => {
    for (let j = 0; j < D; j++) s[j] += mass[t] * v[j] * v[j];
  });
  return s.map((x, j) => x * energy[j]);
}
