// The cache's size against llama.cpp's default F16 cache, as `ask` prints it and the Inspector shows it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cacheVsF16, describeCacheVsF16 } from '../../core/cacheFigures';

// SmolLM2-135M's shape: an unpruned F16 token is 30 x 3 x 64 x 2 x 2 = 23,040 bytes.
const f16 = 23040;

test('ThinK 0.5 on the float16 cache: a compressed token is 0.75x, the whole cache a little more', () => {
  const c = { bytesPerToken: 17395, fp16FullBytesPerToken: f16, compressedBytesPerToken: 17280, prunedTokens: 1968 };
  assert.deepEqual(cacheVsF16(c), { perToken: 17395 / f16, perCompressedToken: 0.75 });
  assert.equal(describeCacheVsF16(c), "17,395 bytes per token, 0.755x llama.cpp's default F16 cache (23,040); a compressed token 17,280 bytes (0.750x)");
});

test('nothing compressed yet: only the whole-cache figure; an empty cache says so', () => {
  const c = { bytesPerToken: 23040, fp16FullBytesPerToken: f16, compressedBytesPerToken: 0, prunedTokens: 0 };
  assert.equal(cacheVsF16(c)!.perCompressedToken, null);
  assert.equal(describeCacheVsF16(c), "23,040 bytes per token, 1.000x llama.cpp's default F16 cache (23,040)");
  // At ratio 0 tokens move to the compact tier with every channel but are reported as full, not pruned.
  assert.equal(cacheVsF16({ ...c, compressedBytesPerToken: 23040 })!.perCompressedToken, null);
  assert.equal(describeCacheVsF16({ ...c, bytesPerToken: 0 }), 'no tokens cached');
  assert.equal(cacheVsF16({ ...c, fp16FullBytesPerToken: 0 }), null, 'a remote engine reports no shape');
});
