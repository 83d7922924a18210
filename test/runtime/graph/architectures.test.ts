// Every supported architecture variant, dtype and file layout, through the whole engine (graph,
// cache, ThinK, flush), against the plain-TypeScript float64 reference forward: with a float32
// cache to 1e-3 and the same greedy ids; with the default float16 cache to a stated tolerance.
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
    const engine = await Engine.load({ modelDir: dir, prefillChunk: 16, cachePrecision: 'float32' }, quietLog);
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

// The float16 cache rounds every cached key and value to 11 significant bits (relative error up to
// 2^-12); the tiny models' large random weights amplify that to at most 2.5e-3 of the largest logit
// (measured: 1.9e-2 on logits up to 7.6). The bound is 5e-3 of the largest logit, about 4e-2 here; a
// wrong channel, position or head moves logits by 1e-1 and more. The reference's greedy ids are fed
// to the engine (teacher forcing), so a near-tie decided differently cannot make the runs diverge.
const HALF_TOL = 5e-3;

for (const variant of TINY_VARIANTS)
  test(`${variant}: with the default float16 cache, within ${HALF_TOL} of the largest logit of the float64 reference, with and without ThinK`, async (t) => {
    const dir = join(root, `${variant}-half`);
    await writeTinyModel(dir, variant, { seed: 21 });
    const ref = new ReferenceModel(openModel(dir));
    const engine = await Engine.load({ modelDir: dir, prefillChunk: 16 }, quietLog);
    try {
      assert.equal(engine.loaded.model.cachePrecision, 'float16');
      for (const think of [NO_THINK, THINK]) {
        const expected = ref.greedy(PROMPT, STEPS + 1, think.ratio === 0 ? null : think);
        const tf = await engine.teacherForce({ promptIds: PROMPT, continuation: expected.ids, think, chunk: 1 });
        let worst = 0;
        let scale = 0;
        tf.logits.forEach((row, i) => {
          for (let j = 0; j < row.length; j++) {
            worst = Math.max(worst, Math.abs(row[j] - expected.stepLogits[i][j]));
            scale = Math.max(scale, Math.abs(expected.stepLogits[i][j]));
          }
        });
        t.diagnostic(`${variant} ratio ${think.ratio}: max |logit - float64| = ${worst.toExponential(2)} over ${tf.logits.length} rows; max |logit| ${scale.toFixed(1)}`);
        assert.equal(tf.logits.length, STEPS + 1);
        assert.ok(worst < HALF_TOL * scale, `within ${HALF_TOL} x ${scale.toFixed(2)} (max diff ${worst})`);
        assert.ok(worst > 0, 'the float16 cache rounds');
        if (think !== NO_THINK) assert.equal(tf.cache.bytesPerElement, 2);
      }
    } finally {
      await engine.dispose();
    }
  });

test('per-layer ratios: each layer keeps its own channel count, and the engine equals the reference', async () => {
  const dir = join(root, 'per-layer');
  await writeTinyModel(dir, 'llama', { seed: 23 });
  const think: ThinkSettings = { ratio: [0.25, 0.75], window: 8, recent: 4, flush: 8 };
  const ref = new ReferenceModel(openModel(dir)).greedy(PROMPT, STEPS + 1, think);
  const engine = await Engine.load({ modelDir: dir, prefillChunk: 16, cachePrecision: 'float32' }, quietLog);
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
