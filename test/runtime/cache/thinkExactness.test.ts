// ThinK's pruned path is exact: attention over compact keys [Tp, kept] equals attention over a
// full cache whose pruned channels are zero-filled, and keeping every channel equals no pruning.
// Run on small random models of every supported architecture variant, through the real graph.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_THINK, type CachePrecision, type ThinkSettings } from '../../../core/protocol/settings';
import { buildModelGraph } from '../../../runtime/graph/model';
import { KvCache } from '../../../runtime/cache/kvcache';
import { Runner } from '../../../runtime/engine/runner';
import { openSession } from '../../../runtime/engine/session';
import { pruneAfterPrefill } from '../../../runtime/cache/think';
import { openModel, type ModelWeights } from '../../../runtime/model/weights';
import { quietLog } from '../../support/models';
import { TINY_VARIANTS, writeTinyModel } from '../../support/tinyModels';

const root = mkdtempSync(join(tmpdir(), 'think-exact-'));
after(() => rmSync(root, { recursive: true, force: true }));

function promptIds(n: number, vocab: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % vocab));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function runnerFor(w: ModelWeights, precision: CachePrecision): Promise<Runner> {
  const { session } = await openSession(buildModelGraph(w, { cachePrecision: precision }), w.dir, 'cpu', quietLog);
  return new Runner(session, w.config, { compressed: false, bits: null, precision });
}

/** Prefills `ids` into a fresh cache, in chunks of 16, collecting ThinK's query statistic. */
async function prefill(r: Runner, ids: number[], think: ThinkSettings): Promise<{ cache: KvCache; qsq: Float64Array[]; logits: Float32Array }> {
  const c = r.config;
  const cache = new KvCache(c.layers, c.kvHeads, c.headDim, ids.length + 16, r.layout);
  const qsq = Array.from({ length: c.layers }, () => new Float64Array(c.kvHeads * c.headDim));
  const windowFrom = ids.length - Math.min(think.window, ids.length);
  let logits: Float32Array = new Float32Array(0);
  for (let at = 0; at < ids.length; at += 16) logits = await r.step(cache, ids.slice(at, at + 16), { windowFrom, querySquares: qsq });
  return { cache, qsq, logits };
}

// Both cache precisions: zero-filling a float16 key is as exact as a float32 one.
const cases = TINY_VARIANTS.flatMap((variant) => (['float32', 'float16'] as const).map((precision) => ({ variant, precision })));
for (const { variant, precision } of cases) {
  describe(`ThinK exactness on a tiny random ${variant} model (${precision} cache)`, () => {
    let w: ModelWeights;
    let r: Runner;
    before(async () => {
      const dir = join(root, `${variant}-${precision}`);
      await writeTinyModel(dir, variant, { seed: 7 });
      w = openModel(dir);
      r = await runnerFor(w, precision);
    });
    after(() => r?.session.release());

    test('pruned path equals zero-filling the pruned key channels of a full cache (1e-5)', async () => {
      const think: ThinkSettings = { ...DEFAULT_THINK, ratio: 0.5, window: 8, recent: 6, flush: 0 };
      const ids = promptIds(40, w.config.vocabSize, 3);
      const pruned = await prefill(r, ids, think);
      assert.ok(pruneAfterPrefill(pruned.cache, pruned.qsq, think, w.config), 'tokens were pruned');
      const n = ids.length - think.recent;
      assert.equal(pruned.cache.pruned, n);
      assert.equal(pruned.cache.layerCaches[0].kept, w.config.headDim / 2);

      // The same prompt, full keys, with every pruned token's dropped channels set to zero.
      const zeroed = await prefill(r, ids, think);
      assert.ok(maxAbsDiff(pruned.logits, zeroed.logits) === 0, 'identical prefill');
      const D = w.config.headDim;
      const Tf = zeroed.cache.full;
      zeroed.cache.layerCaches.forEach((layer, l) =>
        layer.heads.forEach((_, g) => {
          const kept = new Set(pruned.cache.layerCaches[l].heads[g].keys);
          // Head-major [Hkv, Tf, D]; zero is zero in float16 bits too.
          for (let t = 0; t < n; t++) for (let j = 0; j < D; j++) if (!kept.has(j)) layer.fullKeys[(g * Tf + t) * D + j] = 0;
        }),
      );

      // Decode the same tokens on both caches; logits must agree at every step.
      let a = pruned.logits;
      for (const id of promptIds(6, w.config.vocabSize, 11)) {
        a = await r.step(pruned.cache, [id]);
        const b = await r.step(zeroed.cache, [id]);
        const diff = maxAbsDiff(a, b);
        assert.ok(diff < 1e-5, `max |logit diff| ${diff}`);
      }
      // And pruning really changed the model's output (the comparison is not vacuous).
      const full = await prefill(r, ids, think);
      let c = full.logits;
      for (const id of promptIds(6, w.config.vocabSize, 11)) c = await r.step(full.cache, [id]);
      assert.ok(maxAbsDiff(a, c) > 1e-4, 'pruning changes logits');
    });

    test('ratio 0: the prompt moves to the compact tier with every channel, and that equals the uncompacted cache', async () => {
      const think: ThinkSettings = { ...DEFAULT_THINK, ratio: 0, window: 8, recent: 6, flush: 0 };
      const ids = promptIds(40, w.config.vocabSize, 5);
      const kept = await prefill(r, ids, think);
      const compact = await prefill(r, ids, think);
      assert.equal(pruneAfterPrefill(compact.cache, compact.qsq, think, w.config), false, 'λ = 0 prunes no channel');
      assert.deepEqual([compact.cache.compact, compact.cache.full, compact.cache.masked], [ids.length - think.recent, think.recent, false]);
      assert.equal(compact.cache.layerCaches[0].kept, w.config.headDim, 'every channel kept');
      assert.equal(compact.cache.stats().prunedTokens, 0, 'nothing reported as pruned');
      assert.equal(compact.cache.stats().bytesPerToken, kept.cache.stats().bytesPerToken, 'the same bytes');
      for (const id of promptIds(6, w.config.vocabSize, 13)) {
        const a = await r.step(kept.cache, [id]);
        const b = await r.step(compact.cache, [id]);
        assert.ok(maxAbsDiff(a, b) < 1e-5, `max |logit diff| ${maxAbsDiff(a, b)}`);
      }
    });
  });
}
