// The pure pieces of the compression reference (test/support/compressionReference.ts): SnapKV's
// max-pool and token choice, H2O, float16 rounding, KIVI quantization and code packing, and the
// value-channel score. The reference forward builds on these, so they are pinned by hand here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { floatToHalf } from '../../../runtime/model/safetensors';
import {
  h2oSelect,
  halfBitsToNumber,
  kiviDequantize,
  kiviQuantize,
  maxPool1d,
  outputEnergy,
  packCodes,
  roundToHalf,
  snapkvSelect,
  topPositions,
  unpackCodes,
  valueChannelScores,
  valueGroupSize,
} from '../../support/compressionReference';

test('maxPool1d: kernel 7 reaches 3 either side, borders truncated', () => {
  const a = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0];
  assert.deepEqual(Array.from(maxPool1d(a, 7)), [0, 0, 0, 0, 0, 0, 0, 5, 5, 5, 5, 5]);
  // A peak at the very start spreads only rightwards; kernel 1 is the identity.
  assert.deepEqual(Array.from(maxPool1d([9, 1, 2, 3, 4, 5], 7)), [9, 9, 9, 9, 5, 5]);
  assert.deepEqual(Array.from(maxPool1d([3, 1, 2], 1)), [3, 1, 2]);
  // Shorter than the kernel: everything sees the global max.
  assert.deepEqual(Array.from(maxPool1d([1, 4, 2], 7)), [4, 4, 4]);
});

test('topPositions: largest first, ties to the lower position, returned ascending', () => {
  assert.deepEqual(topPositions([1, 3, 3, 0, 3], 2), [1, 2]);
  assert.deepEqual(topPositions([5, 1, 5, 1], 3), [0, 1, 2]);
  assert.deepEqual(topPositions([0.1, 0.9, 0.5], 0), []);
  assert.deepEqual(topPositions([0.1, 0.9, 0.5], 5), [0, 1, 2]);
});

test('snapkvSelect keeps neighbours of a peak that H2O drops', () => {
  const a = [0.3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0.2];
  // H2O: the three raw heaviest.
  assert.deepEqual(h2oSelect(a, 3), [0, 8, 14]);
  // SnapKV: pooled scores are 1 on [5, 11] (ties -> lowest positions first).
  assert.deepEqual(snapkvSelect(a, 3, 7), [5, 6, 7]);
  assert.deepEqual(snapkvSelect(a, 8, 7), [0, 5, 6, 7, 8, 9, 10, 11]);
});

test('float16 rounding: exact values stay, halfway rounds to even, subnormals and overflow', () => {
  assert.equal(roundToHalf(1), 1);
  assert.equal(roundToHalf(-2.5), -2.5);
  assert.equal(roundToHalf(65504), 65504);
  assert.equal(roundToHalf(1e6), Infinity);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to the even mantissa (1).
  assert.equal(roundToHalf(1 + 2 ** -11), 1);
  assert.equal(roundToHalf(1 + 3 * 2 ** -11), 1 + 2 * 2 ** -10);
  assert.equal(roundToHalf(0.1), 0.0999755859375);
  assert.equal(roundToHalf(2 ** -24), 2 ** -24);
  assert.equal(halfBitsToNumber(0x3c00), 1);
  assert.equal(halfBitsToNumber(0xc000), -2);
  assert.equal(halfBitsToNumber(0x0001), 2 ** -24);
  for (const x of [0.33, -7.125, 1234.5, 3e-5, -0.000061]) assert.equal(halfBitsToNumber(floatToHalf(roundToHalf(x))), roundToHalf(x));
});

test('KIVI: round trip within half a step (plus the float16 rounding of the minimum), codes in range', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 6 - 3;
  for (const bits of [2, 4] as const) {
    for (let trial = 0; trial < 50; trial++) {
      const xs = Array.from({ length: 32 }, rnd);
      const g = kiviQuantize(xs, bits);
      const lo = Math.min(...xs);
      const hi = Math.max(...xs);
      assert.equal(g.scale, roundToHalf((hi - lo) / (2 ** bits - 1)));
      assert.equal(g.min, roundToHalf(lo));
      for (const q of g.codes) assert.ok(Number.isInteger(q) && q >= 0 && q <= 2 ** bits - 1);
      const back = kiviDequantize(g);
      // Within the range the error is at most s16 / 2; the float16 minimum and scale can push the
      // extreme codes past the range by their own rounding, which clamping then bounds.
      const slack = Math.abs(g.min - lo) + (2 ** bits - 1) * Math.abs(g.scale - (hi - lo) / (2 ** bits - 1));
      xs.forEach((x, i) => assert.ok(Math.abs(back[i] - x) <= g.scale / 2 + slack + 1e-12, `${bits}-bit: ${x} -> ${back[i]}`));
    }
  }
});

test('KIVI: values on the float16 grid round-trip exactly; a constant group is exact with code 0', () => {
  // min 1, max 4, 2 bits: s = 1, all of 1, 2, 3, 4 are grid points.
  const g = kiviQuantize([4, 1, 2, 3, 1, 4], 2);
  assert.deepEqual(g.codes, [3, 0, 1, 2, 0, 3]);
  assert.deepEqual(kiviDequantize(g), [4, 1, 2, 3, 1, 4]);
  for (const bits of [2, 4] as const) {
    const c = kiviQuantize(Array(32).fill(0.5), bits);
    assert.equal(c.scale, 0);
    assert.deepEqual(c.codes, Array(32).fill(0));
    assert.deepEqual(kiviDequantize(c), Array(32).fill(0.5));
  }
  // Constant but off the float16 grid: exact up to the float16 minimum only.
  const off = kiviQuantize([0.1, 0.1], 4);
  assert.deepEqual(kiviDequantize(off), [roundToHalf(0.1), roundToHalf(0.1)]);
  assert.throws(() => kiviQuantize([], 2), /empty group/);
});

test('packCodes: 2-bit and 4-bit layouts, lowest bits first, ceil(C b / 8) bytes', () => {
  assert.deepEqual(Array.from(packCodes([1, 2, 3, 0], 2)), [0b00_11_10_01]);
  assert.deepEqual(Array.from(packCodes([3, 0, 0, 0, 2], 2)), [0b11, 0b10]);
  assert.deepEqual(Array.from(packCodes([0xa, 0x3, 0xf], 4)), [0x3a, 0x0f]);
  assert.equal(packCodes(Array(7).fill(1), 2).length, 2);
  assert.equal(packCodes(Array(7).fill(1), 4).length, 4);
  const codes = [0, 3, 1, 2, 2, 1, 3, 0, 3];
  assert.deepEqual(unpackCodes(packCodes(codes, 2), codes.length, 2), codes);
  const codes4 = [15, 0, 7, 8, 1];
  assert.deepEqual(unpackCodes(packCodes(codes4, 4), codes4.length, 4), codes4);
  assert.throws(() => packCodes([4], 2), /code 4 does not fit 2 bits/);
});

test('valueGroupSize: the largest divisor of C that is at most 32', () => {
  assert.equal(valueGroupSize(8), 8);
  assert.equal(valueGroupSize(32), 32);
  assert.equal(valueGroupSize(64), 32);
  assert.equal(valueGroupSize(48), 24);
  assert.equal(valueGroupSize(37), 1);
  assert.equal(valueGroupSize(1), 1);
  assert.throws(() => valueGroupSize(0), /no channels/);
});

test('outputEnergy sums each KV head group of W_o columns; valueChannelScores weighs by mass', () => {
  // hidden 2, 4 query heads x D 2 = 8 columns, 2 KV heads (query heads 0-1 -> 0, 2-3 -> 1).
  const o = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 1, 1, 1, 1, 1, 1]);
  const e = outputEnergy(o, 2, 4, 2, 2);
  // head 0, channel 0: columns 0 and 2 -> (1 + 1) + (9 + 1) = 12; channel 1: columns 1, 3 -> 5 + 17.
  assert.deepEqual(Array.from(e[0]), [12, 22]);
  assert.deepEqual(Array.from(e[1]), [26 + 50, 37 + 65]);
  assert.throws(() => outputEnergy(o, 3, 4, 2, 2), /expected 3 x 8/);
  const s = valueChannelScores([[1, 2], [3, 0]], [0.5, 0.25], [2, 10]);
  assert.deepEqual(s, [(0.5 * 1 + 0.25 * 9) * 2, 0.5 * 4 * 10]);
});
