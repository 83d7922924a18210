// A prompt of 2,048 tokens, eight prefill chunks and eight times the tiny model's trained window,
// through the whole engine against the float64 reference: long-context attention (chunked
// prefill, positions far out on RoPE, softmax over thousands of keys) stays exact, with and
// without ThinK, with the float32 cache (the float16 one is checked in architectures.test.ts). (A one-off
// run of the same check at 16,384 tokens: 2.4e-5, README "Performance".)
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Engine } from '../../../runtime/engine/engine';
import { openModel } from '../../../runtime/model/weights';
import { collectingHooks } from '../../support/hooks';
import { quietLog } from '../../support/models';
import { ReferenceModel } from '../../support/reference';
import { writeTinyModel } from '../../support/tinyModels';

const root = mkdtempSync(join(tmpdir(), 'think-long-'));
after(() => rmSync(root, { recursive: true, force: true }));

const N = 2048;
const PROMPT = Array.from({ length: N }, (_, i) => 3 + ((i * 37 + (i >> 7)) % 250));

for (const ratio of [0, 0.5]) {
  test(`a ${N}-token prompt equals the float64 reference (ThinK ratio ${ratio})`, async () => {
    const dir = join(root, `r${ratio}`);
    await writeTinyModel(dir, 'llama', { seed: 3 });
    const configPath = join(dir, 'config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    assert.equal(config.max_position_embeddings, 256);
    writeFileSync(configPath, JSON.stringify({ ...config, max_position_embeddings: N + 64 }));

    const think = { ratio, window: 32, recent: 32, flush: 0 };
    const engine = await Engine.load({ modelDir: dir, cachePrecision: 'float32' }, quietLog);
    try {
      const r = await engine.generate({ requestId: 'long', prompt: { ids: PROMPT }, maxNewTokens: 2, think }, collectingHooks());
      // One step longer: the engine's last logits are those after feeding both generated ids.
      const ref = new ReferenceModel(openModel(dir)).greedy(PROMPT, 3, think);
      assert.deepEqual(r.ids, ref.ids.slice(0, 2), 'greedy ids');
      if (ratio) assert.deepEqual(engine.snapshot().masks!.layers.map((l) => l.map((h) => h.kept)), ref.kept, 'same key channels');
      const want = ref.stepLogits[2];
      let diff = 0;
      for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(engine.lastLogits![i] - want[i]));
      assert.ok(diff < 1e-3, `logits max diff ${diff}`);
    } finally {
      await engine.dispose();
    }
  });
}
