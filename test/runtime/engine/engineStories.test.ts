// The engine on a real pretrained model (stories260k) against float64 references computed
// outside this project (reference.json), with and without pruning, with both cache precisions:
// greedy ids, texts and ThinK's kept channels exactly; final top-5 logits within 1e-3 with the
// float32 cache and within 2e-2 with the default float16 cache (its rounding of every cached key and
// value to 11 significant bits moves these logits by up to 5.7e-3, measured), ids and channels exactly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine } from '../../../runtime/engine/engine';
import { collectingHooks } from '../../support/hooks';
import { STORIES, quietLog, skipWithoutModel, storiesReferenceCases } from '../../support/models';

for (const [precision, tol] of [['float32', 1e-3], ['float16', 2e-2]] as const) {
  test(`stories260k: every reference.json case, with and without ThinK (${precision} cache, logits within ${tol})`, async (t) => {
    if (skipWithoutModel(t, STORIES)) return;
    const ref = { cases: storiesReferenceCases() };
    const engine = await Engine.load({ modelDir: STORIES, cachePrecision: precision }, quietLog);
    let worst = 0;
    try {
      for (const [i, c] of ref.cases.entries()) {
        const hooks = collectingHooks();
        const r = await engine.generate(
          {
            requestId: `case${i}`,
            prompt: { ids: c.prompt_ids },
            maxNewTokens: c.greedy_steps,
            think: { ratio: c.ratio, window: c.window, recent: c.recent, flush: 0 },
          },
          hooks,
        );
        assert.deepEqual(r.ids, c.greedy_ids, `case ${i}: greedy ids`);
        assert.equal(r.text, c.greedy_text, `case ${i}: text`);
        assert.equal(hooks.text, r.text, `case ${i}: streamed text equals the result`);
        const logits = engine.lastLogits!;
        for (const [id, value] of c.final_top5_logits) {
          worst = Math.max(worst, Math.abs(logits[id] - value));
          assert.ok(Math.abs(logits[id] - value) < tol, `case ${i}: logit ${id} ${logits[id]} vs ${value}`);
        }
        const top5 = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, 5);
        assert.deepEqual(top5, c.final_top5_logits.map(([id]) => id), `case ${i}: top-5 order`);
        if (c.kept_channels) {
          const masks = engine.snapshot().masks!;
          assert.deepEqual(masks.layers.map((l) => l.map((h) => h.kept)), c.kept_channels, `case ${i}: kept channels`);
          assert.equal(hooks.masks.length, 1, 'one masks notification after prefill');
        }
      }
      t.diagnostic(`${precision} cache: max |top-5 logit - float64 reference| = ${worst.toExponential(2)}`);
    } finally {
      await engine.dispose();
    }
  });
}

test('stories260k: greedy from <s> prints the published text', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const engine = await Engine.load({ modelDir: STORIES }, quietLog);
  try {
    const r = await engine.generate({ requestId: 'bos', prompt: { ids: [1] }, maxNewTokens: 48 }, collectingHooks());
    assert.ok(
      r.text.trimStart().startsWith('Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.'),
      r.text,
    );
  } finally {
    await engine.dispose();
  }
});
