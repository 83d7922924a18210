// The one byte formula (core/cacheBytes.ts) on hand-computed heads: KIVI codes and their float16
// parameters, compact and full tiers, int64 indices, and the element width as a parameter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { elementBytes, headBytes, totalBytes, unprunedBytes } from '../../core/cacheBytes';

test('cacheBytes: each tier at its width, indices once per head', () => {
  const tiers = { quantized: 64, compact: 5, full: 10 };
  const head = { headDim: 64, keptKeys: 32, keptValues: 64 };
  // keys: 64 x 8 code bytes + 2 groups x 32 channels x 4 (scale, min) = 768; (5 x 32 + 10 x 64) x 4 = 3200.
  // values: 64 x (16 code bytes + 2 channel groups x 4) = 1536; (5 x 64 + 10 x 64) x 4 = 3840.
  // indices: 32 key channels x 8; all 64 value channels kept, so no value index.
  const b = headBytes(tiers, head, 2, elementBytes('float32'));
  assert.deepEqual(b, { keys: 3968, values: 5376, indices: 256 });
  assert.equal(totalBytes(b), 3968 + 5376 + 256);
  // A 16-bit cache halves the float tiers only.
  assert.deepEqual(headBytes(tiers, head, 2, elementBytes('float16')), { keys: 768 + 1600, values: 1536 + 1920, indices: 256 });
});

test('cacheBytes: pruned values are coded over their own channel groups and indexed', () => {
  // 48 kept value channels: groups of 24, so 2 per token; 4-bit rows of 24 bytes.
  const b = headBytes({ quantized: 32, compact: 0, full: 0 }, { headDim: 64, keptKeys: 64, keptValues: 48 }, 4, 4);
  assert.equal(b.values, 32 * (24 + 2 * 4));
  assert.equal(b.indices, 64 * 8 + 48 * 8);
});

test('cacheBytes: unpruned reference figures, and no quantized tier without a KIVI width', () => {
  assert.deepEqual(unprunedBytes(3, 64, 4), { keys: 3 * 64 * 4, values: 3 * 64 * 4 });
  assert.deepEqual(unprunedBytes(1, 64, 2), { keys: 128, values: 128 });
  assert.throws(() => headBytes({ quantized: 32, compact: 0, full: 0 }, { headDim: 8, keptKeys: 8, keptValues: 8 }, null, 2), /quantized tokens need a KIVI width/);
});
