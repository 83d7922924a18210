// Our K-quant writers (Q4_K, Q5_K, Q6_K) against the runtime's decoder of ggml's layouts
// (runtime/model/gguf/dequantize.ts, ggml's reference dequantizers): every value comes back within
// half a step of its sub-block, the step near the sub-block's range over its levels, and each
// field lands in its byte (a hand-built block where each sub-block is told apart).
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { dequantize } from '../../../runtime/model/gguf/dequantize';
import { ggmlType } from '../../../runtime/model/gguf/types';
import { K_BLOCK_BYTES, QK_K, quantizeQ4_K, quantizeQ5_K, quantizeQ6_K } from '../../../scripts/bench/kquants';

/** Deterministic values with varied sub-block ranges: all positive, all negative, mixed, constant, zero, an outlier. */
function testValues(blocks: number): Float32Array {
  const x = new Float32Array(blocks * QK_K);
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (let i = 0; i < x.length; i++) {
    const sub = (i >> 4) % 8; // a different pattern every 16 values
    const v = rand();
    x[i] = [v, Math.abs(v) + 0.5, -Math.abs(v) - 2, v * 10, 0.3, 0, v * 1e-3, v][sub];
  }
  x[QK_K + 7] = 40; // one outlier in the second super-block
  x.fill(0, 3 * QK_K, 4 * QK_K); // an all-zero super-block
  return x;
}

const CASES = [
  { name: 'Q4_K', quantize: quantizeQ4_K, sub: 32, levels: 15, symmetric: false },
  { name: 'Q5_K', quantize: quantizeQ5_K, sub: 32, levels: 31, symmetric: false },
  { name: 'Q6_K', quantize: quantizeQ6_K, sub: 16, levels: 62, symmetric: true },
] as const;

for (const c of CASES) {
  test(`${c.name}: dequantize(quantize(x)) is within half a step of each sub-block`, () => {
    const x = testValues(5);
    const bytes = c.quantize(x);
    assert.equal(bytes.length, (x.length / QK_K) * K_BLOCK_BYTES[c.name]);
    const back = dequantize(ggmlType(c.name), bytes, x.length);
    for (let b = 0; b < x.length; b += QK_K) {
      const block = x.subarray(b, b + QK_K);
      // The step a sub-block would have with exact scales: its range (including 0 for Q4_K/Q5_K,
      // whose mins are <= 0; symmetric around 0 for Q6_K) over its levels. Scales are 6- or 8-bit
      // multiples of a float16 super-block scale, rounded up: they add at most one super-block
      // scale unit, i.e. the largest sub-block step over 63 (Q6_K: 127), plus float16 rounding.
      const ideal = (from: number) => {
        const s = block.subarray(from, from + c.sub);
        const lo = Math.min(0, ...s);
        const hi = Math.max(...s);
        return c.symmetric ? (2 * Math.max(-lo, hi)) / c.levels : (hi - lo) / c.levels;
      };
      let largest = 0;
      for (let j = 0; j < QK_K; j += c.sub) largest = Math.max(largest, ideal(j));
      const unit = largest / (c.symmetric ? 127 : 63);
      for (let j = 0; j < QK_K; j += c.sub) {
        const step = ideal(j) + 2 * unit + largest * 2 ** -9;
        for (let l = 0; l < c.sub; l++) {
          const i = b + j + l;
          assert.ok(Math.abs(back[i] - x[i]) <= step / 2 + 1e-6, `${c.name} value ${i}: ${back[i]} vs ${x[i]} (step ${step})`);
        }
      }
    }
    assert.ok(back.subarray(3 * QK_K, 4 * QK_K).every((v) => v === 0), 'an all-zero super-block decodes to zeros');
  });
}

test('Q4_K and Q5_K: each sub-block gets its own 6-bit scale and min (the 12 packed bytes as get_scale_min_k4 reads them)', () => {
  // Sub-block j holds the ramp (j + 1) * (0..31) / 31 - (8 - j) / 8: ranges grow with j while
  // mins shrink, so every scale and min differs and a mix-up of the packing (a field read as
  // another's) is visible.
  const x = new Float32Array(QK_K);
  for (let j = 0; j < 8; j++) for (let l = 0; l < 32; l++) x[32 * j + l] = ((j + 1) * l) / 31 - (8 - j) / 8;
  for (const [name, quantize, levels] of [['Q4_K', quantizeQ4_K, 15], ['Q5_K', quantizeQ5_K, 31]] as const) {
    const back = dequantize(ggmlType(name), quantize(x), QK_K);
    for (let j = 0; j < 8; j++) {
      // Sub-block j's step is about (j + 1) / levels (plus a 63rd of the largest, 8 / levels, for the 6-bit scales).
      const step = (j + 1 + 2 * (8 / 63)) / levels;
      for (let l = 0; l < 32; l++) assert.ok(Math.abs(back[32 * j + l] - x[32 * j + l]) <= step / 2, `${name} sub-block ${j} value ${l}: ${back[32 * j + l]} vs ${x[32 * j + l]}`);
    }
  }
});

test('Q6_K: the 16 int8 scales and the ql / qh bit planes land where ggml reads them', () => {
  // Sub-block j (16 values) spans +-(j + 1), its values rotated by 5j so no two sub-blocks hold the
  // same code sequence (a swapped bit plane or scale shows).
  const x = new Float32Array(QK_K);
  for (let j = 0; j < 16; j++) for (let l = 0; l < 16; l++) x[16 * j + l] = ((j + 1) * (2 * ((l + 5 * j) % 16) - 15)) / 15;
  const bytes = quantizeQ6_K(x);
  const back = dequantize(ggmlType('Q6_K'), bytes, QK_K);
  for (let i = 0; i < QK_K; i++) {
    const step = ((i >> 4) + 1) / 31;
    assert.ok(Math.abs(back[i] - x[i]) <= step / 2 + step / 100, `Q6_K value ${i}: ${back[i]} vs ${x[i]}`);
  }
  const scales = Array.from(bytes.subarray(192, 208), (b) => (b << 24) >> 24);
  for (let j = 1; j < 16; j++) assert.ok(scales[j] > scales[j - 1], `scales grow with the sub-block's range: ${scales}`);
});
