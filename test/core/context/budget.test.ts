// Token budget from the KV-cache memory budget: the documented formula on hand-computed cases,
// the recent window at full width, per-layer ratios, the context clamp, and input errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytesPerToken, cacheBytes, keptChannels, tokenBudget } from '../../../core/context/budget';

// SmolLM2-135M's shape: 30 layers, 3 KV heads, head_dim 64, 8192 context.
const smol = { layers: 30, kvHeads: 3, headDim: 64, contextLength: 8192 };

test('bytes per token: pruned = 4*H*sum(kept+D), full = 4*H*L*2D, indices 8*H*sum(kept) once', () => {
  // ratio 0.5 -> kept 32: pruned = 4*3*30*(32+64) = 34560; full = 4*3*30*128 = 46080; 8*3*30*32 = 23040.
  assert.deepEqual(bytesPerToken(smol, 0.5), { pruned: 34560, full: 46080, indexBytes: 23040 });
  // ratio 0 keeps everything: both widths equal.
  assert.deepEqual(bytesPerToken(smol, 0), { pruned: 46080, full: 46080, indexBytes: 46080 });
  // ThinK's rounding: kept = D - floor(ratio*D): 0.3*64 = 19.2 -> drop 19, keep 45.
  assert.deepEqual(keptChannels(0.3, 2, 64), [45, 45]);
  assert.deepEqual(keptChannels([0, 0.5, 0.99], 3, 8), [8, 4, 1]);
});

test('memory-limited budget equals the hand-computed value and is the largest that fits', () => {
  const think = { ratio: 0.5, recent: 32 };
  const b = tokenBudget({ memoryBudgetMb: 64, model: smol, think, answerTokens: 256 });
  // bytes = 67108864 - 23040 indices = 67085824; answer 256*46080 = 11796480; left 55289344;
  // recent 32*46080 = 1474560; left 53814784 / 34560 = 1557.1 -> 1557; prompt = 32 + 1557 = 1589.
  assert.equal(b.tokens, 1589);
  assert.equal(b.memoryTokens, 1589);
  assert.equal(b.limitedBy, 'memory');
  const per = bytesPerToken(smol, 0.5);
  assert.ok(cacheBytes(1589, 256, 32, per) <= 64 * 2 ** 20);
  assert.ok(cacheBytes(1590, 256, 32, per) > 64 * 2 ** 20);
});

test('pruning buys tokens: a higher ratio never lowers the budget', () => {
  let prev = 0;
  for (const ratio of [0, 0.25, 0.5, 0.75, 0.9]) {
    const t = tokenBudget({ memoryBudgetMb: 32, model: smol, think: { ratio, recent: 32 }, answerTokens: 64 }).tokens;
    assert.ok(t >= prev, `ratio ${ratio}: ${t} < ${prev}`);
    prev = t;
  }
  const none = tokenBudget({ memoryBudgetMb: 32, model: smol, think: { ratio: 0, recent: 32 }, answerTokens: 64 }).tokens;
  // Without pruning it is plain division: floor((32 MiB - indices) / 46080) - 64 answer tokens.
  assert.equal(none, Math.floor((32 * 2 ** 20 - 46080) / 46080) - 64);
});

test('a memory budget inside the recent window counts every token at full width', () => {
  // 10 full tokens of 46080 bytes = 460800 bytes, plus 23040 bytes of indices.
  const b = tokenBudget({ memoryBudgetMb: (460800 + 23040) / 2 ** 20, model: smol, think: { ratio: 0.5, recent: 32 }, answerTokens: 0 });
  assert.equal(b.tokens, 10);
  // Not even the answer fits: zero, not negative.
  assert.equal(tokenBudget({ memoryBudgetMb: 1, model: smol, think: { ratio: 0.5, recent: 32 }, answerTokens: 1000 }).tokens, 0);
});

test('clamped to the context length minus the answer, then minus the overhead', () => {
  const b = tokenBudget({ memoryBudgetMb: 100_000, model: smol, think: { ratio: 0.5, recent: 32 }, answerTokens: 512, overheadTokens: 100 });
  assert.equal(b.limitedBy, 'context');
  assert.equal(b.tokens, 8192 - 512 - 100);
  const tiny = tokenBudget({ memoryBudgetMb: 100_000, model: { ...smol, contextLength: 100 }, think: { ratio: 0.5, recent: 32 }, answerTokens: 512 });
  assert.equal(tiny.tokens, 0);
});

test('bad inputs are named in the error', () => {
  const ok = { memoryBudgetMb: 64, model: smol, think: { ratio: 0.5, recent: 32 }, answerTokens: 64 };
  assert.throws(() => tokenBudget({ ...ok, memoryBudgetMb: 0 }), /memoryBudgetMb must be a number > 0, got 0/);
  assert.throws(() => tokenBudget({ ...ok, model: { ...smol, kvHeads: 0 } }), /model\.kvHeads must be a positive integer, got 0/);
  assert.throws(() => tokenBudget({ ...ok, think: { ratio: 1, recent: 32 } }), /ratio must be in \[0, 1\), got 1/);
  assert.throws(() => tokenBudget({ ...ok, think: { ratio: [0.5, 0.5], recent: 32 } }), /ratio has 2 values for 30 layers/);
  assert.throws(() => tokenBudget({ ...ok, answerTokens: 1.5 }), /answerTokens must be an integer >= 0, got 1.5/);
});
