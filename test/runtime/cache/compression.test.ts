// Cache compression in the runtime (docs/compression.md): KIVI codes round-trip within half a
// step, eviction really removes tokens, memory-budget projections equal what the cache then
// holds, the extension's token budget is a prompt the runtime accepts as requested, and a budget
// too small is refused with what would fit.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_COMPRESSION, DEFAULT_THINK, type CompressionSettings, type ThinkSettings } from '../../../core/protocol/settings';
import { Engine } from '../../../runtime/engine/engine';
import { maxPool, selectTokens } from '../../../runtime/cache/evict';
import { projectCacheBytes } from '../../../core/cacheProjection';
import { tokenBudget } from '../../../core/context/budget';
import { KEY_GROUP, rowBytes, valueGroup, type KvBits } from '../../../core/kiviLayout';
import { dequantizeKeyGroup, dequantizeValueRow, quantizeKeyGroup, quantizeValueRow } from '../../../runtime/cache/kivi';
import { chooseByBudget, MemoryBudgetError } from '../../../runtime/cache/memoryBudget';
import { halfToFloat } from '../../../runtime/model/safetensors';
import { collectingHooks } from '../../support/hooks';
import { quietLog } from '../../support/models';
import { writeTinyModel } from '../../support/tinyModels';

function noise(n: number, seed: number, scale = 1): Float32Array {
  let x = seed;
  return Float32Array.from({ length: n }, () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * scale);
}

describe('KIVI codes', () => {
  for (const bits of [2, 4] as KvBits[]) {
    test(`${bits}-bit keys (per channel over 32 tokens) round-trip within half a step`, () => {
      const C = 24;
      const x = noise(KEY_GROUP * C, bits, 3);
      for (let t = 0; t < KEY_GROUP; t++) x[t * C + 5] = 0.75; // a constant channel is exact
      const codes = new Uint8Array(KEY_GROUP * rowBytes(C, bits));
      const scales = new Uint16Array(C);
      const mins = new Uint16Array(C);
      quantizeKeyGroup(x, 0, C, bits, codes, 0, scales, mins, 0);
      const y = dequantizeKeyGroup(codes, 0, C, bits, scales, mins, 0);
      for (let c = 0; c < C; c++) {
        const step = halfToFloat(scales[c]);
        for (let t = 0; t < KEY_GROUP; t++) {
          const err = Math.abs(y[t * C + c] - x[t * C + c]);
          // Half a step, plus what float16 rounding of the minimum and scale can add.
          assert.ok(err <= step / 2 + 2e-3 * Math.abs(x[t * C + c]) + 1e-3, `channel ${c} token ${t}: error ${err} vs step ${step}`);
        }
      }
      for (let t = 0; t < KEY_GROUP; t++) assert.equal(y[t * C + 5], 0.75);
    });

    test(`${bits}-bit values (per token over channel groups) round-trip within half a step`, () => {
      const C = 48; // groups of 24
      assert.equal(valueGroup(C), 24);
      const x = noise(C, 7 + bits, 2);
      const codes = new Uint8Array(rowBytes(C, bits));
      const scales = new Uint16Array(2);
      const mins = new Uint16Array(2);
      quantizeValueRow(x, 0, C, bits, codes, 0, scales, mins, 0);
      const y = dequantizeValueRow(codes, 0, C, bits, scales, mins, 0);
      for (let c = 0; c < C; c++) {
        const step = halfToFloat(scales[Math.floor(c / 24)]);
        assert.ok(Math.abs(y[c] - x[c]) <= step / 2 + 2e-3, `channel ${c}`);
      }
      // Fewer bits, bigger steps: the codes really are b bits wide.
      assert.ok(halfToFloat(scales[0]) > (2 * 0.9) / (2 ** bits - 1) / 2);
    });
  }
});

describe('token eviction selection', () => {
  test('SnapKV pools with kernel 7 and keeps the budget plus the window, in order', () => {
    const mass = new Float32Array(20);
    mass[3] = 5; // pooled, it lifts 0..6
    mass[12] = 4;
    assert.deepEqual(Array.from(maxPool([0, 1, 0, 0, 0, 0, 0, 0, 2], 7)), [1, 1, 1, 1, 1, 2, 2, 2, 2]);
    const snap = selectTokens(mass, 20, { method: 'snapkv', tokenBudget: 4, window: 4, kernel: 7 });
    assert.deepEqual(Array.from(snap), [0, 1, 2, 3, 16, 17, 18, 19], 'ties go to the lower position');
    const h2o = selectTokens(mass, 20, { method: 'h2o', tokenBudget: 2, window: 4, kernel: 7 });
    assert.deepEqual(Array.from(h2o), [3, 12, 16, 17, 18, 19]);
    assert.equal(selectTokens(mass, 20, { method: 'h2o', tokenBudget: 16, window: 4, kernel: 7 }).length, 20, 'budget covers the prefix: nothing evicted');
  });
});

describe('compression in the engine', () => {
  const root = mkdtempSync(join(tmpdir(), 'think-compress-'));
  let engine: Engine;
  const prompt = Array.from({ length: 150 }, (_, i) => (i * 31 + 7) % 250);
  before(async () => {
    await writeTinyModel(join(root, 'm'), 'llama', { seed: 9 });
    engine = await Engine.load({ modelDir: join(root, 'm'), prefillChunk: 64 }, quietLog);
  });
  after(async () => {
    await engine?.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  const cases: [string, Partial<ThinkSettings>, Partial<CompressionSettings>][] = [
    ['ThinK 0.5', { ratio: 0.5 }, {}],
    ['KIVI 2-bit', { ratio: 0 }, { kvBits: 2 }],
    ['ThinK 0.5 + KIVI 4-bit + values 0.5', { ratio: 0.5 }, { kvBits: 4, pruneValues: 0.5 }],
    ['SnapKV 40 + ThinK 0.25', { ratio: 0.25 }, { evict: { method: 'snapkv', tokenBudget: 40, window: 16, kernel: 7 } }],
    ['H2O 40 + ThinK 0.5 + KIVI 2', { ratio: 0.5 }, { kvBits: 2, evict: { method: 'h2o', tokenBudget: 40, window: 32, kernel: 7 } }],
  ];
  for (const [name, think, compression] of cases) {
    test(`${name}: projected bytes equal the bytes the cache then holds`, async () => {
      const N = 6;
      const t: ThinkSettings = { ...DEFAULT_THINK, recent: 8, flush: 0, ...think };
      const c: CompressionSettings = { ...DEFAULT_COMPRESSION, ...compression };
      const r = await engine.generate({ requestId: name, prompt: { ids: prompt }, maxNewTokens: N, think: t, compression: c }, collectingHooks());
      assert.equal(r.ids.length, N);
      const held = r.cache.bytesPerToken * r.cache.tokens;
      assert.equal(Math.round(held), projectCacheBytes({ think: t, compression: c }, prompt.length, N, engine.loaded.model));
      if (c.evict) {
        const kept = c.evict.tokenBudget + c.evict.window;
        assert.equal(r.cache.evictedTokens, prompt.length - kept, 'evicted tokens left the cache');
        assert.equal(r.cache.tokens, kept + N);
      }
      if (c.kvBits) assert.equal(r.cache.quantizedTokens % 32, 0);
      assert.ok(r.cache.bytesPerToken < r.cache.fp16FullBytesPerToken, 'smaller than an unpruned float16 cache');
    });
  }

  const agreeing: [string, Partial<ThinkSettings>, Partial<CompressionSettings>][] = [
    ['ThinK 0.5', { ratio: 0.5 }, {}],
    ['ThinK 0.5 + KIVI 4-bit', { ratio: 0.5 }, { kvBits: 4 }],
    ['ThinK 0.25, flush 12', { ratio: 0.25, flush: 12 }, {}],
  ];
  for (const [name, think, compression] of agreeing) {
    test(`${name}: the extension's token budget is what memory-budget mode projects and the cache holds`, async () => {
      const m = engine.loaded.model;
      const N = 6;
      const t: ThinkSettings = { ...DEFAULT_THINK, recent: 8, flush: 0, ...think };
      const c: CompressionSettings = { ...DEFAULT_COMPRESSION, ...compression };
      // A budget of exactly what 100 prompt tokens need: the extension must pack 100, no more.
      const budgetMb = projectCacheBytes({ think: t, compression: c }, 100, N, m) / 2 ** 20;
      const b = tokenBudget({ memoryBudgetMb: budgetMb, model: m, think: t, compression: c, answerTokens: N });
      assert.equal(b.limitedBy, 'memory');
      assert.equal(b.promptTokens, 100);
      const r = await engine.generate(
        { requestId: `agree ${name}`, prompt: { ids: prompt.slice(0, b.promptTokens) }, maxNewTokens: N, memoryBudgetMb: budgetMb, think: t, compression: c },
        collectingHooks(),
      );
      assert.equal(r.ids.length, N);
      assert.deepEqual({ think: r.budget?.think, compression: r.budget?.compression }, { think: t, compression: c }, 'the runtime kept the requested settings');
      assert.equal(r.budget?.projectedBytes, b.projectedBytes);
      const held = Math.round(r.cache.bytesPerToken * r.cache.tokens);
      // Exact with flush off; flush leaves fewer full-key tokens than the bound assumes.
      if (t.flush === 0) assert.equal(held, b.projectedBytes);
      else assert.ok(held <= b.projectedBytes, `${held} > ${b.projectedBytes}`);
    });
  }

  test('memory-budget mode picks a setting that fits, reports it, and refuses what cannot fit', async () => {
    const m = engine.loaded.model;
    const N = 8;
    const unpruned = projectCacheBytes({ think: { ...DEFAULT_THINK, ratio: 0 }, compression: DEFAULT_COMPRESSION }, prompt.length, N, m);
    const budgetMb = (unpruned * 0.4) / 2 ** 20;
    const r = await engine.generate({ requestId: 'b', prompt: { ids: prompt }, maxNewTokens: N, memoryBudgetMb: budgetMb, think: { ratio: 0, flush: 0 } }, collectingHooks());
    assert.ok(r.budget, 'the choice is reported');
    assert.ok(r.budget!.projectedBytes <= budgetMb * 2 ** 20);
    assert.ok(r.cache.bytesPerToken * r.cache.tokens <= budgetMb * 2 ** 20, 'the real cache fits');
    assert.ok(r.budget!.compression.kvBits !== null, 'it had to quantize');
    assert.ok(r.budget!.tokensPerMb > (prompt.length + N) / ((unpruned / 2 ** 20) * 1.01));

    assert.throws(
      () => chooseByBudget(0.0001, 100_000, 10, { think: DEFAULT_THINK, compression: DEFAULT_COMPRESSION }, m),
      (e: unknown) => e instanceof MemoryBudgetError && /cannot hold 100000 prompt \+ 10 new tokens/.test(e.message) && /fits about \d+ tokens/.test(e.message),
    );
    await assert.rejects(
      engine.generate({ requestId: 'c', prompt: { ids: prompt }, maxNewTokens: N, memoryBudgetMb: 0.0001 }, collectingHooks()),
      /cannot hold 150 prompt \+ 8 new tokens/,
    );
  });
});
