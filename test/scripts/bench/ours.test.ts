// The benchmark's shared-prefill path (one prefill, a pruned clone, interleaved decode) decodes
// what the Engine decodes at each ratio on its own, with the same cache bytes: the interleaving
// and the clone change when steps run, not what they compute.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runOurs, type OursJob } from '../../../scripts/bench/ours';
import { writeTinyModel } from '../../support/tinyModels';

const root = mkdtempSync(join(tmpdir(), 'bench-ours-'));
after(() => rmSync(root, { recursive: true, force: true }));

for (const quantize of [undefined, 'int8'] as const) {
  test(`shared-prefill${quantize ? ` (${quantize} weights)` : ''}: both ratios decode the Engine's tokens with the Engine's cache bytes`, async () => {
    const modelDir = join(root, `tiny-${quantize ?? 'f32'}`);
    await writeTinyModel(modelDir, 'llama', { seed: 5 });
    // 300 prompt tokens: two prefill chunks, ThinK prunes 268 of them (recent 32); 6 steps, no flush.
    const base = { modelDir, context: 300, steps: 6, promptIds: Array.from({ length: 300 }, (_, i) => 3 + ((i * 37) % 250)), contextLength: 320, quantize };
    const engine = async (ratio: number) => (await runOurs({ ...base, method: 'engine', ratio })).results[0].result;
    const [r0, r5] = [await engine(0), await engine(0.5)];
    const shared = (await runOurs({ ...base, method: 'shared-prefill', ratio: 0.5 } satisfies OursJob)).results;

    assert.deepEqual(shared.map((x) => x.ratio), [0, 0.5]);
    for (const [x, want] of [[shared[0].result, r0], [shared[1].result, r5]] as const) {
      assert.deepEqual(x.firstTokens, want.firstTokens, 'greedy tokens');
      assert.equal(x.decodeSteps, 6);
      assert.equal(x.keyBytes, want.keyBytes, 'key bytes');
      assert.equal(x.valueBytes, want.valueBytes, 'value bytes');
      assert.equal(x.weightBytesPerToken, want.weightBytesPerToken, 'weight bytes');
      assert.ok(x.decodeMsPerToken > 0 && x.peakRssBytes > 0);
    }
    // ThinK did prune: half the key channels of all but the recent tokens.
    assert.ok(r5.keyBytes < 0.6 * r0.keyBytes, `${r5.keyBytes} vs ${r0.keyBytes}`);
  });
}
