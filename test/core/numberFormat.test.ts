// The figures the webviews print (core/numberFormat.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatCount, formatDuration, formatPercent, formatRate } from '../../core/numberFormat';

test('numberFormat: bytes in binary units', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(108512), '106.0 KiB');
  assert.equal(formatBytes(3 * 2 ** 20), '3.0 MiB');
  assert.equal(formatBytes(1.25 * 2 ** 30), '1.3 GiB');
  assert.equal(formatBytes(-1), '–');
  assert.equal(formatBytes(Number.NaN), '–');
});

test('numberFormat: counts, percentages, rates, durations', () => {
  assert.equal(formatCount(1234567), '1,234,567');
  assert.equal(formatPercent(0.5), '50%');
  assert.equal(formatPercent(0.525), '52.5%');
  assert.equal(formatPercent(1 / 3), '33.3%');
  assert.equal(formatRate(10860.2), '10,860 tok/s');
  assert.equal(formatRate(12.34), '12.3 tok/s');
  assert.equal(formatRate(0), '–');
  assert.equal(formatDuration(850), '850 ms');
  assert.equal(formatDuration(1234), '1.2 s');
});
