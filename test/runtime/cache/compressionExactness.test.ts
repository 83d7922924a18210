// Composed compression paths (docs/compression.md) through the whole engine against the float64
// reference: same evicted tokens, same key and value channels, same greedy ids, logits close,
// and the same bytes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULT_COMPRESSION, type CompressionSettings, type ThinkSettings } from '../../../core/protocol/settings';
import { Engine } from '../../../runtime/engine/engine';
import { openModel } from '../../../runtime/model/weights';
import { collectingHooks } from '../../support/hooks';
import { quietLog } from '../../support/models';
import { ReferenceModel } from '../../support/reference';
import { writeTinyModel, type TinyVariant } from '../../support/tinyModels';

const root = mkdtempSync(join(tmpdir(), 'think-comp-exact-'));
after(() => rmSync(root, { recursive: true, force: true }));

const PROMPT = Array.from({ length: 90 }, (_, i) => (i * 53 + 17) % 240);
const STEPS = 12;
const snap = { method: 'snapkv' as const, tokenBudget: 30, window: 16, kernel: 7 };
const h2o = { method: 'h2o' as const, tokenBudget: 24, window: 8, kernel: 7 };

const cases: [string, Partial<ThinkSettings>, Partial<CompressionSettings>, number][] = [
  // name, ThinK, compression, logit tolerance (KIVI codes may round differently in float32 vs float64)
  ['SnapKV + ThinK 0.5', { ratio: 0.5 }, { evict: snap }, 1e-3],
  ['H2O alone', { ratio: 0 }, { evict: h2o }, 1e-3],
  ['value pruning 0.5 + ThinK 0.5', { ratio: 0.5 }, { pruneValues: 0.5 }, 1e-3],
  ['KIVI 4-bit + ThinK 0.5 with flush', { ratio: 0.5, flush: 8 }, { kvBits: 4 }, 2e-2],
  ['SnapKV + ThinK 0.25 + KIVI 2-bit + values 0.25', { ratio: 0.25 }, { evict: snap, kvBits: 2, pruneValues: 0.25 }, 5e-2],
];

for (const variant of ['llama', 'qwen2'] as TinyVariant[]) {
  describe(`compression on a tiny random ${variant} model equals the float64 reference`, () => {
    for (const [name, thinkOver, comp, tol] of cases) {
      test(name, async () => {
        const dir = join(root, variant);
        await writeTinyModel(dir, variant, { seed: 17 });
        const think: ThinkSettings = { ratio: 0, window: 8, recent: 4, flush: 0, ...thinkOver };
        const compression: CompressionSettings = { ...DEFAULT_COMPRESSION, ...comp };
        const engine = await Engine.load({ modelDir: dir, prefillChunk: 32, cachePrecision: 'float32' }, quietLog);
        try {
          const r = await engine.generate({ requestId: name, prompt: { ids: PROMPT }, maxNewTokens: STEPS, think, compression }, collectingHooks());
          // One step longer: its logits at STEPS and its cache are those after feeding all STEPS ids, as the engine's.
          const ref = new ReferenceModel(openModel(dir)).greedy(PROMPT, STEPS + 1, think, { compression });
          assert.deepEqual(r.ids, ref.ids.slice(0, STEPS), 'greedy ids');
          const masks = engine.snapshot().masks!;
          if (compression.evict) assert.deepEqual(masks.layers.map((l) => l.map((h) => h.keptTokens)), ref.keptTokens, 'evicted the same tokens');
          if (think.ratio !== 0) assert.deepEqual(masks.layers.map((l) => l.map((h) => h.kept)), ref.kept, 'same key channels');
          if (compression.pruneValues) assert.deepEqual(masks.layers.map((l) => l.map((h) => h.valueKept)), ref.keptValueChannels, 'same value channels');
          const want = ref.stepLogits[STEPS];
          let diff = 0;
          for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(engine.lastLogits![i] - want[i]));
          assert.ok(diff < tol, `final logits max diff ${diff} (tolerance ${tol})`);
          assert.equal(r.cache.quantizedTokens, ref.quantizedTokens, 'quantized tokens');
          assert.equal(Math.round(r.cache.bytesPerToken * r.cache.tokens), ref.bytes.total, 'bytes');
        } finally {
          await engine.dispose();
        }
      });
    }
  });
}
