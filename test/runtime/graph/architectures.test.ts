// Every supported architecture variant, dtype and file layout, through the whole engine (graph,
// cache, ThinK, flush), against the plain-TypeScript float64 reference forward.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { ThinkSettings } from '../../../core/protocol/settings';
import { Engine } from '../../../runtime/engine/engine';
import { openModel, type DType } from '../../../runtime/model/weights';
import { quietLog } from '../../support/models';
import { ReferenceModel } from '../../support/reference';
import { TINY_VARIANTS, writeTinyModel, type TinyVariant } from '../../support/tinyModels';
import { collectingHooks } from '../../support/hooks';

const root = mkdtempSync(join(tmpdir(), 'think-arch-'));
after(() => rmSync(root, { recursive: true, force: true }));

const PROMPT = Array.from({ length: 37 }, (_, i) => (i * 37 + 11) % 200);
const STEPS = 14;
const NO_THINK: ThinkSettings = { ratio: 0, window: 32, recent: 32, flush: 0 };
// Small recent window and flush so that pruning after prefill and flushing of generated keys both happen.
const THINK: ThinkSettings = { ratio: 0.5, window: 8, recent: 4, flush: 8 };

interface Case {
  variant: TinyVariant;
  dtype: DType;
  shards: number;
}

const cases: Case[] = [
  ...TINY_VARIANTS.map((variant) => ({ variant, dtype: 'F32' as DType, shards: 1 })),
  { variant: 'llama', dtype: 'F16', shards: 1 },
  { variant: 'llama', dtype: 'BF16', shards: 1 },
  { variant: 'qwen2', dtype: 'BF16', shards: 3 },
  { variant: 'llama3-rope', dtype: 'F32', shards: 2 },
];

for (const c of cases) {
  test(`${c.variant} ${c.dtype}${c.shards > 1 ? ` in ${c.shards} shards` : ''}: engine equals the float64 reference, with and without ThinK`, async () => {
    const dir = join(root, `${c.variant}-${c.dtype}-${c.shards}`);
    await writeTinyModel(dir, c.variant, { dtype: c.dtype, shards: c.shards, seed: 21 });
    const ref = new ReferenceModel(openModel(dir));
    const engine = await Engine.load({ modelDir: dir, prefillChunk: 16 }, quietLog);
    try {
      for (const think of [NO_THINK, THINK]) {
        const r = await engine.generate({ requestId: 'x', prompt: { ids: PROMPT }, maxNewTokens: STEPS, think }, collectingHooks());
        // Reference one step longer: its logits at index STEPS are those after feeding all STEPS ids.
        const expected = ref.greedy(PROMPT, STEPS + 1, think.ratio === 0 ? null : think);
        assert.deepEqual(r.ids, expected.ids.slice(0, r.ids.length), `greedy ids (ratio ${think.ratio})`);
        if (r.finishReason === 'length') {
          const want = expected.stepLogits[STEPS];
          const got = engine.lastLogits!;
          let diff = 0;
          for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(got[i] - want[i]));
          assert.ok(diff < 1e-3, `final logits within 1e-3 of float64 (max diff ${diff})`);
        }
        if (think !== NO_THINK) {
          assert.ok(r.cache.prunedTokens > PROMPT.length - think.recent, 'generated keys were flushed to compact storage');
          assert.deepEqual(engine.snapshot().masks!.layers.map((l) => l.map((h) => h.kept)), expected.kept, 'kept channels');
        }
      }
    } finally {
      await engine.dispose();
    }
  });
}

test('per-layer ratios: each layer keeps its own channel count, and the engine equals the reference', async () => {
  const dir = join(root, 'per-layer');
  await writeTinyModel(dir, 'llama', { seed: 23 });
  const think: ThinkSettings = { ratio: [0.25, 0.75], window: 8, recent: 4, flush: 8 };
  const ref = new ReferenceModel(openModel(dir)).greedy(PROMPT, STEPS + 1, think);
  const engine = await Engine.load({ modelDir: dir, prefillChunk: 16 }, quietLog);
  try {
    const r = await engine.generate({ requestId: 'pl', prompt: { ids: PROMPT }, maxNewTokens: STEPS, think }, collectingHooks());
    assert.deepEqual(r.ids, ref.ids.slice(0, STEPS));
    const kept = engine.snapshot().masks!.layers.map((l) => l.map((h) => h.kept));
    assert.deepEqual(kept, ref.kept);
    const D = engine.loaded.model.headDim;
    assert.deepEqual(kept.map((l) => l[0].length), [D - Math.floor(0.25 * D), D - Math.floor(0.75 * D)]);
    assert.equal(r.cache.pruneRatio, 0.5, 'the mean over layers');
  } finally {
    await engine.dispose();
  }
});
