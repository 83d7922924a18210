// The WebGPU path on a real Vulkan adapter: Mesa's lavapipe (a CPU Vulkan driver, installed by
// .ci/run) here and in CI, a GPU where there is one. The engine on WebGPU reproduces stories260k's
// float64 references as the CPU engine does, and the cache's pruned tiers stay on the GPU: what
// crosses to the GPU per step is bounded by ThinK's settings, not by the context.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import type { ThinkSettings } from '../../src/protocol';
import { Engine } from '../../runtime/engine';
import { collectingHooks } from '../support/hooks';
import { STORIES, quietLog, storiesReferenceCases } from '../support/models';
import { webgpuUnavailable } from '../support/webgpu';

let skip: string | null = null;
before(async () => {
  skip = existsSync(STORIES) ? await webgpuUnavailable() : `model not found: ${STORIES}`;
});

const prompt = (n: number) => Array.from({ length: n }, (_, i) => 1 + ((i * 37) % 500));

describe('WebGPU', () => {
  test('stories260k: every reference.json case on WebGPU, greedy ids exact, top-5 logits within 1e-3, kept channels exact', async (t) => {
    if (skip) return t.skip(skip);
    const engine = await Engine.load({ modelDir: STORIES, device: 'webgpu' }, quietLog);
    try {
      assert.equal(engine.loaded.device, 'webgpu');
      for (const [i, c] of storiesReferenceCases().entries()) {
        const r = await engine.generate(
          { requestId: `case${i}`, prompt: { ids: c.prompt_ids }, maxNewTokens: c.greedy_steps, think: { ratio: c.ratio, window: c.window, recent: c.recent, flush: 0 } },
          collectingHooks(),
        );
        assert.deepEqual(r.ids, c.greedy_ids, `case ${i}: greedy ids`);
        const logits = engine.lastLogits!;
        for (const [id, value] of c.final_top5_logits) assert.ok(Math.abs(logits[id] - value) < 1e-3, `case ${i}: logit ${id} ${logits[id]} vs ${value}`);
        if (c.kept_channels) assert.deepEqual(engine.snapshot().masks!.layers.map((l) => l.map((h) => h.kept)), c.kept_channels, `case ${i}: kept channels`);
      }
    } finally {
      await engine.dispose();
    }
  });

  test('the pruned tiers stay on the GPU: per-step host bytes are the same at 120 and 360 prompt tokens, resident bytes grow by exactly the extra tokens', async (t) => {
    if (skip) return t.skip(skip);
    const ratio = 0.5;
    const think: ThinkSettings = { ratio, window: 32, recent: 16, flush: 64 };
    const steps = 24;
    const engine = await Engine.load({ modelDir: STORIES, device: 'webgpu' }, quietLog);
    const { layers, kvHeads, headDim: D } = engine.loaded.model;
    try {
      const runs = [];
      let uploadsBefore = 0;
      for (const n of [120, 360]) {
        const r = await engine.generate({ requestId: `n${n}`, prompt: { ids: prompt(n) }, maxNewTokens: steps, think }, collectingHooks());
        const gpu = r.cache.gpu!;
        runs.push({ ...gpu, uploads: gpu.uploads - uploadsBefore, stats: r.cache });
        uploadsBefore = gpu.uploads;
      }
      const [short, long] = runs;
      // After the prompt: recent full tokens + the answer fed back, no flush (16 + 24 <= 64).
      assert.equal(short.stats.fullTokens, think.recent + steps);
      assert.equal(long.stats.fullTokens, think.recent + steps);
      // Uploads: the empty tiers at the first chunk, then once after the prompt is pruned.
      assert.equal(short.uploads, 2);
      assert.equal(long.uploads, 2);
      assert.equal(long.hostBytesLastStep, short.hostBytesLastStep);
      // Per step from the host: the full tier's keys and values, the channel indices (int64), and
      // KIVI's two packing bytes (shift and mask; its tiers are empty here).
      const kept = D - Math.floor(ratio * D);
      const fullTier = think.recent + steps - 1; // the last step's token was a graph input, not yet cached
      assert.equal(short.hostBytesLastStep, layers * kvHeads * (2 * fullTier * D * 4 + kept * 8) + 2);
      // On the GPU: compact keys [Tc, kept] and values [Tc, D], 4 bytes each, plus the [D, D] value selector.
      const perToken = layers * kvHeads * (kept + D) * 4;
      assert.equal(short.residentBytes, (120 - think.recent) * perToken + layers * kvHeads * D * D * 4);
      assert.equal(long.residentBytes - short.residentBytes, (360 - 120) * perToken);
    } finally {
      await engine.dispose();
    }
  });

  test('same tokens as the CPU engine with ThinK flushing generated keys, and with KIVI 4-bit', async (t) => {
    if (skip) return t.skip(skip);
    const think = { ratio: 0.5, recent: 16, flush: 48 };
    const cases = [{ think }, { think, compression: { kvBits: 4 as const } }];
    const answers: Record<string, number[][]> = { cpu: [], webgpu: [] };
    for (const device of ['cpu', 'webgpu'] as const) {
      const engine = await Engine.load({ modelDir: STORIES, device }, quietLog);
      try {
        for (const c of cases) {
          const r = await engine.generate({ requestId: device, prompt: { ids: prompt(150) }, maxNewTokens: 60, ...c }, collectingHooks());
          answers[device].push(r.ids);
          // On the CPU nothing is GPU-resident; on WebGPU, with 60 answer tokens and flush 48, the
          // tiers were uploaded at the first chunk, after the prompt, and after at least one flush.
          if (device === 'cpu') assert.equal(r.cache.gpu, undefined);
          else assert.ok(r.cache.gpu!.uploads >= 3 * (answers[device].length), JSON.stringify(r.cache.gpu));
        }
      } finally {
        await engine.dispose();
      }
    }
    assert.deepEqual(answers.webgpu, answers.cpu);
  });
});
