// Issue acceptance: ThinK 0.5 + KIVI 2-bit stores at most 0.2x the bytes per token of an unpruned
// float16 cache, on a SmolLM2-135M-shaped random model with a 2,000-token prompt, as the CLI's
// --json reports it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { makeRandomModel } from '../../../runtime/model/makeRandom';
import { SMOLLM2, skipWithoutModel } from '../../support/models';

const root = mkdtempSync(join(tmpdir(), 'think-bytes-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('ThinK 0.5 + KIVI 2-bit: bytesPerToken <= 0.2 x fp16FullBytesPerToken (SmolLM2-135M shape, 2,000-token prompt)', async (t) => {
  if (skipWithoutModel(t, join(SMOLLM2, 'config.json'), 'model config')) return;
  const dir = join(root, 'smollm2');
  await makeRandomModel({ config: JSON.parse(readFileSync(join(SMOLLM2, 'config.json'), 'utf8')), outDir: dir, dtype: 'BF16', seed: 5 });
  const ids = Array.from({ length: 2000 }, (_, i) => ((i * 7919) % 49000) + 3).join(',');
  const cli = resolve(__dirname, '../../../bin/think-lens.mjs');
  const run = (...flags: string[]) =>
    JSON.parse(execFileSync(process.execPath, [cli, 'generate', '--model', dir, '--prompt-ids', ids, '--max-new-tokens', '4', '--json', ...flags], { encoding: 'utf8', maxBuffer: 1 << 24 }));
  const r = run('--prune-ratio', '0.5', '--kv-bits', '2');
  const ratio = r.cache.bytesPerToken / r.cache.fp16FullBytesPerToken;
  t.diagnostic(`bytes per token ${r.cache.bytesPerToken.toFixed(0)} vs fp16 unpruned ${r.cache.fp16FullBytesPerToken}: ${ratio.toFixed(3)}x`);
  assert.equal(r.cache.fp16FullBytesPerToken, 30 * 3 * 64 * 2 * 2);
  assert.equal(r.cache.tokens, 2004);
  assert.ok(r.cache.quantizedTokens >= 1900, 'the compressed tokens are KIVI codes');
  assert.ok(ratio <= 0.2, `${ratio} > 0.2`);
});
