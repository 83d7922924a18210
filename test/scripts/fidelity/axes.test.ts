// The fidelity figure's axes: nice ticks, tick labels, and the ranges each panel picks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agreementAxis, bytesAxis, formatTick, klAxis, niceTicks, toUnit } from '../../../scripts/fidelity/axes';

test('niceTicks and formatTick', () => {
  assert.deepEqual(niceTicks(0, 680, 6), [0, 200, 400, 600]);
  assert.deepEqual(niceTicks(63, 100, 6), [70, 80, 90, 100]);
  assert.deepEqual(niceTicks(90, 100, 5), [90, 92, 94, 96, 98, 100]);
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.equal(formatTick(0.30000000000000004), '0.3');
  assert.equal(formatTick(1e-4), '1e-4');
  assert.equal(formatTick(2.5e-5), '2.5e-5');
  assert.equal(formatTick(0), '0');
  assert.throws(() => niceTicks(2, 1), /bad range/);
});

test('bytes: 0 to 4% past the largest value', () => {
  const a = bytesAxis([500, 1000, 250]);
  assert.equal(a.lo, 0);
  assert.equal(a.hi, 1040);
  assert.deepEqual(a.ticks, [0, 200, 400, 600, 800, 1000]);
  assert.equal(toUnit(a, 520), 0.5);
});

test('agreement: a round floor under the lowest point, up to 100', () => {
  assert.deepEqual(agreementAxis([90, 100]), { lo: 88, hi: 100, log: false, ticks: [88, 90, 92, 94, 96, 98, 100] });
  assert.equal(agreementAxis([0.5]).lo, 0);
});

test('KL: whole decades, a decade more where a point sits on one', () => {
  const a = klAxis([1e-3, 1e-2, 0]);
  assert.equal(a.lo, 1e-4);
  assert.equal(a.hi, 1e-1);
  assert.deepEqual(a.ticks, [1e-4, 1e-3, 1e-2, 1e-1]);
  assert.ok(Math.abs(toUnit(a, 1e-3) - 1 / 3) < 1e-12);
  const mid = klAxis([3e-3, 3e-2]);
  assert.deepEqual([mid.lo, mid.hi], [1e-3, 1e-1]);
  assert.deepEqual([klAxis([0]).lo, klAxis([0]).hi], [1e-7, 10]); // no positive KL: 1e-6..1, padded
});
