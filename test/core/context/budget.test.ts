// Token budget from the KV-cache memory budget: the runtime's projection on hand-computed cases,
// the recent window at full width, flush and KIVI counted as the runtime counts them, per-layer
// ratios, the context clamp, and input errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { projectCacheBytes } from '../../../core/cacheProjection';
import { keptChannels, tokenBudget } from '../../../core/context/budget';
import { DEFAULT_COMPRESSION } from '../../../core/protocol/settings';

// SmolLM2-135M's shape: 30 layers, 3 KV heads, head_dim 64, 8192 context; the hand-computed cases
// use a float32 cache (4 bytes an element), the last test the default float16 one.
const smol = { layers: 30, kvHeads: 3, headDim: 64, contextLength: 8192, cachePrecision: 'float32' as const };

const bytes = (think: { ratio: number; recent: number; flush: number }, prompt: number, answer: number) =>
  projectCacheBytes({ think, compression: DEFAULT_COMPRESSION }, prompt, answer, smol);

test('bytes: pruned = 4*H*sum(kept+D), full = 4*H*L*2D per token, indices 8*H*sum(kept) once', () => {
  // ratio 0.5 -> kept 32: pruned = 4*3*30*(32+64) = 34560; full = 4*3*30*128 = 46080; 8*3*30*32 = 23040.
  const think = { ratio: 0.5, recent: 32, flush: 0 };
  // A prompt inside the recent window chooses no mask: all 64 channels stay, and are indexed (46080).
  assert.equal(bytes(think, 0, 0), 46080);
  assert.equal(bytes(think, 32, 0), 46080 + 32 * 46080);
  assert.equal(bytes(think, 33, 1), 23040 + 33 * 46080 + 34560);
  // ratio 0 keeps everything: every token at full width, all D channels indexed.
  assert.equal(bytes({ ...think, ratio: 0 }, 100, 0), 46080 + 100 * 46080);
  // ThinK's rounding: kept = D - floor(ratio*D): 0.3*64 = 19.2 -> drop 19, keep 45.
  assert.deepEqual(keptChannels(0.3, 2, 64), [45, 45]);
  assert.deepEqual(keptChannels([0, 0.5, 0.99], 3, 8), [8, 4, 1]);
});

test('memory-limited budget equals the hand-computed value and is the largest that fits', () => {
  const think = { ratio: 0.5, recent: 32, flush: 0 };
  const b = tokenBudget({ memoryBudgetMb: 64, model: smol, think, answerTokens: 256 });
  // bytes = 67108864 - 23040 indices = 67085824; answer 256*46080 = 11796480; left 55289344;
  // recent 32*46080 = 1474560; left 53814784 / 34560 = 1557.1 -> 1557; prompt = 32 + 1557 = 1589.
  assert.equal(b.tokens, 1589);
  assert.equal(b.promptTokens, 1589);
  assert.equal(b.limitedBy, 'memory');
  assert.equal(b.projectedBytes, bytes(think, 1589, 256));
  assert.ok(bytes(think, 1589, 256) <= 64 * 2 ** 20);
  assert.ok(bytes(think, 1590, 256) > 64 * 2 ** 20);
});

test('flush: generated tokens beyond it are counted pruned, as the runtime projects them', () => {
  // 256 answer tokens: without flush they all stay full; with flush 128, 32 recent + 256 answer
  // full-key tokens are cut to 128 at the end and the other 160 cost the pruned width.
  const off = tokenBudget({ memoryBudgetMb: 64, model: smol, think: { ratio: 0.5, recent: 32, flush: 0 }, answerTokens: 256 });
  const on = tokenBudget({ memoryBudgetMb: 64, model: smol, think: { ratio: 0.5, recent: 32, flush: 128 }, answerTokens: 256 });
  // 23040 indices + 128 x 46080 full + (P - 32 + 160) x 34560 pruned <= 67108864 -> P = 1642.
  assert.equal(off.tokens, 1589);
  assert.equal(on.tokens, 1642);
  const think = { ratio: 0.5, recent: 32, flush: 128 };
  assert.ok(bytes(think, on.tokens, 256) <= 64 * 2 ** 20 && bytes(think, on.tokens + 1, 256) > 64 * 2 ** 20);
});

test('KIVI: the budget holds for every shorter prompt, though the bytes dip at each quantized group', () => {
  const think = { ratio: 0.5, recent: 32, flush: 0 };
  const compression = { ...DEFAULT_COMPRESSION, kvBits: 2 as const };
  const project = (P: number) => projectCacheBytes({ think, compression }, P, 64, smol);
  // 32 + 31 compact tokens, then the 32 compact tokens become one group of codes: fewer bytes.
  assert.ok(project(32 + 32) < project(32 + 31));
  for (const memoryBudgetMb of [8, 13.3, 20]) {
    const b = tokenBudget({ memoryBudgetMb, model: smol, think, compression, answerTokens: 64 });
    assert.equal(b.limitedBy, 'memory');
    const budget = memoryBudgetMb * 2 ** 20;
    for (let P = 0; P <= b.promptTokens; P++) assert.ok(project(P) <= budget, `${memoryBudgetMb} MiB: ${P} tokens`);
    assert.ok(project(b.promptTokens + 1) > budget, `${memoryBudgetMb} MiB: not the largest`);
    assert.equal(b.projectedBytes, project(b.promptTokens));
  }
});

test('the float16 cache (the default) halves every key and value byte; the int64 indices stay', () => {
  const half = { ...smol, cachePrecision: 'float16' as const };
  const think = { ratio: 0.5, recent: 32, flush: 0 };
  const project = (m: typeof smol | typeof half, P: number) => projectCacheBytes({ think, compression: DEFAULT_COMPRESSION }, P, 0, m);
  // indices 23040 either way; 32 full tokens x 46080 / 2 and 100 pruned x 34560 / 2.
  assert.equal(project(half, 132), 23040 + 32 * 23040 + 100 * 17280);
  assert.equal(project(half, 132) - 23040, (project(smol, 132) - 23040) / 2);
  const b = tokenBudget({ memoryBudgetMb: 64, model: half, think, answerTokens: 256 });
  assert.ok(b.tokens > 1.9 * tokenBudget({ memoryBudgetMb: 64, model: smol, think, answerTokens: 256 }).tokens, 'about twice the prompt in the same memory');
});

test('pruning buys tokens: a higher ratio never lowers the budget', () => {
  let prev = 0;
  for (const ratio of [0, 0.25, 0.5, 0.75, 0.9]) {
    const t = tokenBudget({ memoryBudgetMb: 32, model: smol, think: { ratio, recent: 32, flush: 128 }, answerTokens: 64 }).tokens;
    assert.ok(t >= prev, `ratio ${ratio}: ${t} < ${prev}`);
    prev = t;
  }
  const none = tokenBudget({ memoryBudgetMb: 32, model: smol, think: { ratio: 0, recent: 32, flush: 128 }, answerTokens: 64 }).tokens;
  // Without pruning it is plain division: floor((32 MiB - indices) / 46080) - 64 answer tokens.
  assert.equal(none, Math.floor((32 * 2 ** 20 - 46080) / 46080) - 64);
});

test('a memory budget inside the recent window counts every token at full width', () => {
  // 10 full tokens of 46080 bytes = 460800 bytes, plus the indices of all 64 channels (8 x 3 x 30 x 64
  // = 46080 bytes): no mask is chosen for a prompt inside the recent window, as the runtime holds it.
  const b = tokenBudget({ memoryBudgetMb: (460800 + 46080) / 2 ** 20, model: smol, think: { ratio: 0.5, recent: 32, flush: 0 }, answerTokens: 0 });
  assert.equal(b.tokens, 10);
  // Not even the answer fits: zero, not negative.
  assert.equal(tokenBudget({ memoryBudgetMb: 1, model: smol, think: { ratio: 0.5, recent: 32, flush: 0 }, answerTokens: 1000 }).tokens, 0);
});

test('clamped to the context length minus the answer, then minus the overhead', () => {
  const b = tokenBudget({ memoryBudgetMb: 100_000, model: smol, think: { ratio: 0.5, recent: 32, flush: 0 }, answerTokens: 512, overheadTokens: 100 });
  assert.equal(b.limitedBy, 'context');
  assert.equal(b.tokens, 8192 - 512 - 100);
  const tiny = tokenBudget({ memoryBudgetMb: 100_000, model: { ...smol, contextLength: 100 }, think: { ratio: 0.5, recent: 32, flush: 0 }, answerTokens: 512 });
  assert.equal(tiny.tokens, 0);
});

test('bad inputs are named in the error', () => {
  const ok = { memoryBudgetMb: 64, model: smol, think: { ratio: 0.5, recent: 32, flush: 0 }, answerTokens: 64 };
  assert.throws(() => tokenBudget({ ...ok, memoryBudgetMb: 0 }), /memoryBudgetMb must be a number > 0, got 0/);
  assert.throws(() => tokenBudget({ ...ok, model: { ...smol, kvHeads: 0 } }), /model\.kvHeads must be a positive integer, got 0/);
  assert.throws(() => tokenBudget({ ...ok, think: { ratio: 1, recent: 32, flush: 0 } }), /ratio must be in \[0, 1\), got 1/);
  assert.throws(() => tokenBudget({ ...ok, think: { ratio: [0.5, 0.5], recent: 32, flush: 0 } }), /ratio has 2 values for 30 layers/);
  assert.throws(() => tokenBudget({ ...ok, answerTokens: 1.5 }), /answerTokens must be an integer >= 0, got 1.5/);
});
