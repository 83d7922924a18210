// Validates the float64 oracle itself: stories260k's published float64 references (with and
// without ThinK) pin down its semantics; tiny models check the ThinK knobs behave as specified.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { openModel } from '../../../runtime/model/weights';
import { ReferenceModel, selectKept, type RefThink } from '../../support/reference';
import { STORIES, skipWithoutModel, storiesReferenceCases } from '../../support/models';
import { TINY_VARIANTS, writeTinyModel, type TinyVariant } from '../../support/tinyModels';

test('stories260k: every reference.json case (ids exact, final logits to 1e-6, kept channels)', (t) => {
  if (skipWithoutModel(t, join(STORIES, 'reference.json'), 'stories260k reference')) return;
  const ref = new ReferenceModel(openModel(STORIES));
  const cases = storiesReferenceCases();
  assert.ok(cases.length >= 3);
  for (const c of cases) {
    const label = `prompt ${c.prompt_ids.length} tokens, ratio ${c.ratio}`;
    const think: RefThink = { ratio: c.ratio, window: c.window, recent: c.recent, flush: 0 };
    // final_top5_logits are the logits after the last greedy id was fed: one step past the ids.
    const r = ref.greedy(c.prompt_ids, c.greedy_steps + 1, think);
    assert.deepEqual(r.ids.slice(0, c.greedy_steps), c.greedy_ids, label);
    const last = r.stepLogits[c.greedy_steps];
    const top5 = Array.from(last.keys()).sort((a, b) => last[b] - last[a]).slice(0, 5);
    assert.deepEqual(top5, c.final_top5_logits.map(([id]) => id), label);
    for (const [id, v] of c.final_top5_logits) assert.ok(Math.abs(last[id] - v) < 1e-6, `${label}: logit ${id} ${last[id]} vs ${v}`);
    if (c.kept_channels) assert.deepEqual(r.kept, c.kept_channels, label);
    if (c.ratio === 0) {
      const plain = ref.greedy(c.prompt_ids, c.greedy_steps);
      assert.deepEqual(plain.ids, c.greedy_ids, `${label} without ThinK`);
      assert.equal(plain.kept, null);
    }
  }
});

test('selectKept: highest scores, ties to the lower index, ascending', () => {
  assert.deepEqual(selectKept([0.5, 2, 2, 0.1, 3, 2], 3), [1, 2, 4]);
  assert.deepEqual(selectKept([0, 0, 0, 0], 2), [0, 1]);
  assert.deepEqual(selectKept([1, 5, 3], 3), [0, 1, 2]);
});

const models = new Map<TinyVariant, ReferenceModel>();
const prompt = Array.from({ length: 24 }, (_, i) => (i * 37 + 11) % 256);

before(async () => {
  for (const v of TINY_VARIANTS) {
    const dir = mkdtempSync(join(tmpdir(), `ref-${v}-`));
    await writeTinyModel(dir, v);
    models.set(v, new ReferenceModel(openModel(dir)));
  }
});

test('ratio 0 keeps every channel and equals no pruning, on every tiny variant', () => {
  for (const [v, ref] of models) {
    const plain = ref.greedy(prompt, 6);
    const zero = ref.greedy(prompt, 6, { ratio: 0, window: 8, recent: 4, flush: 8 });
    assert.deepEqual(zero.ids, plain.ids, v);
    for (let i = 0; i < 6; i++) assert.deepEqual(zero.stepLogits[i], plain.stepLogits[i], `${v} step ${i}`);
    const D = ref.config.headDim;
    for (const layer of zero.kept!) for (const head of layer) assert.deepEqual(head, Array.from({ length: D }, (_, j) => j));
  }
});

test('ratio 0.5: pruning changes decode logits but not the prefill ones; kept sets have D - floor(ratio D) channels', () => {
  for (const [v, ref] of models) {
    const plain = ref.greedy(prompt, 4);
    const pruned = ref.greedy(prompt, 4, { ratio: 0.5, window: 8, recent: 4, flush: 0 });
    assert.deepEqual(pruned.stepLogits[0], plain.stepLogits[0], `${v}: prefill runs with full keys`);
    assert.notDeepEqual(pruned.stepLogits[1], plain.stepLogits[1], `${v}: decode sees pruned keys`);
    const { layers, kvHeads, headDim: D } = ref.config;
    assert.equal(pruned.kept!.length, layers);
    for (let l = 0; l < layers; l++) {
      assert.equal(pruned.kept![l].length, kvHeads);
      for (let g = 0; g < kvHeads; g++) {
        const kept = pruned.kept![l][g];
        const scores = pruned.scores![l][g];
        assert.equal(kept.length, D - Math.floor(0.5 * D));
        assert.deepEqual(kept, [...kept].sort((a, b) => a - b));
        const worstKept = Math.min(...kept.map((j) => scores[j]));
        for (let j = 0; j < D; j++) if (!kept.includes(j)) assert.ok(scores[j] <= worstKept, `${v}: dropped channel ${j} outranks a kept one`);
      }
    }
  }
});

test('per-layer ratios apply per layer', () => {
  const ref = models.get('llama-headdim')!;
  const D = ref.config.headDim;
  const r = ref.greedy(prompt, 2, { ratio: [0.25, 0.7], window: 4, recent: 4, flush: 0 });
  assert.equal(r.kept![0][0].length, D - Math.floor(0.25 * D));
  assert.equal(r.kept![1][1].length, D - Math.floor(0.7 * D));
  assert.throws(() => ref.greedy(prompt, 2, { ratio: [0.5], window: 4, recent: 4, flush: 0 }), /1 ratios for 2 layers/);
});

test('recent >= prompt length prunes nothing: same as no ThinK', () => {
  const ref = models.get('qwen2')!;
  const a = ref.greedy(prompt, 5);
  const b = ref.greedy(prompt, 5, { ratio: 0.75, window: 8, recent: prompt.length, flush: 0 });
  for (let i = 0; i < 5; i++) assert.deepEqual(b.stepLogits[i], a.stepLogits[i]);
});

test('flush: identical until the full-key tokens first exceed flush, different right after', () => {
  const ref = models.get('mistral')!;
  const recent = 4;
  const flush = 7;
  const steps = 12;
  const base = ref.greedy(prompt, steps, { ratio: 0.5, window: 8, recent, flush: 0 });
  const flushed = ref.greedy(prompt, steps, { ratio: 0.5, window: 8, recent, flush });
  // After decode step j the cache holds recent + j full-key tokens; the first flush follows
  // step j* = flush - recent + 1, so logits up to j* agree and logits of step j* + 1 differ.
  const first = flush - recent + 1;
  for (let i = 0; i <= first; i++) assert.deepEqual(flushed.stepLogits[i], base.stepLogits[i], `step ${i}`);
  assert.notDeepEqual(flushed.stepLogits[first + 1], base.stepLogits[first + 1]);
  assert.deepEqual(flushed.kept, base.kept, 'flush reuses the prompt masks');
  assert.throws(() => ref.greedy(prompt, 2, { ratio: 0.5, window: 8, recent: 8, flush: 8 }), /flush 8 must be 0 or exceed recent 8/);
});

test('tiny variants decode with well separated greedy choices (fp32 engines pick the same ids)', () => {
  for (const [v, ref] of models) {
    for (const think of [null, { ratio: 0.5, window: 8, recent: 4, flush: 12 }]) {
      const r = ref.greedy(prompt, 24, think);
      for (const [i, l] of r.stepLogits.entries()) {
        const s = Array.from(l).sort((a, b) => b - a);
        assert.ok(s[0] - s[1] > 1e-3, `${v} ${think ? 'think' : 'plain'} step ${i}: top-2 gap ${s[0] - s[1]}`);
      }
      assert.ok(new Set(r.ids).size > 4, `${v}: the model does not collapse to one token`);
    }
  }
});

test('llama3 rope scaling changes the model (the long-wavelength band is rescaled)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ref-rope-'));
  await writeTinyModel(dir, 'llama3-rope');
  const w = openModel(dir);
  const scaled = new ReferenceModel(w).greedy(prompt, 1);
  const unscaled = new ReferenceModel({ ...w, config: { ...w.config, ropeScaling: null } }).greedy(prompt, 1);
  assert.notDeepEqual(scaled.stepLogits[0], unscaled.stepLogits[0]);
});
