// Issue acceptance, on a SmolLM2-135M-shaped random model with a 2,000-token prompt, as the CLI's
// --json reports it, against an unpruned float16 cache (llama.cpp's default): ThinK 0.5 + KIVI
// 2-bit stores at most 0.2x its bytes per token; the default float16 cache with ThinK 0.5 stores a
// compressed token in exactly 0.75x (the whole cache, with the recent full-key tokens and the
// channel indices, a little more); ThinK 0.5 + KIVI 4-bit at most 0.35x.
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

let dir: string | null = null;
/** `think-lens generate --json` on the SmolLM2-shaped model (written once), a 2,000-token prompt. */
async function run(...flags: string[]) {
  if (!dir) {
    dir = join(root, 'smollm2');
    await makeRandomModel({ config: JSON.parse(readFileSync(join(SMOLLM2, 'config.json'), 'utf8')), outDir: dir, dtype: 'BF16', seed: 5 });
  }
  const ids = Array.from({ length: 2000 }, (_, i) => ((i * 7919) % 49000) + 3).join(',');
  const cli = resolve(__dirname, '../../../bin/think-lens.mjs');
  return JSON.parse(execFileSync(process.execPath, [cli, 'generate', '--model', dir, '--prompt-ids', ids, '--max-new-tokens', '4', '--json', ...flags], { encoding: 'utf8', maxBuffer: 1 << 24 }));
}

test('the default cache (float16) with ThinK 0.5: 0.75x an unpruned float16 cache per compressed token', async (t) => {
  if (skipWithoutModel(t, join(SMOLLM2, 'config.json'), 'model config')) return;
  const r = await run('--prune-ratio', '0.5');
  const c = r.cache;
  t.diagnostic(`bytes per token ${c.bytesPerToken.toFixed(0)} (${(c.bytesPerToken / c.fp16FullBytesPerToken).toFixed(4)}x), per compressed token ${c.compressedBytesPerToken} of ${c.fp16FullBytesPerToken}`);
  assert.equal(c.bytesPerElement, 2, 'float16 by default');
  assert.equal(c.prunedTokens, 2000 - 32);
  // 30 layers x 3 heads x (32 kept key channels + 64 value channels) x 2 bytes = 0.75 x (30 x 3 x 128 x 2).
  assert.equal(c.compressedBytesPerToken, 30 * 3 * (32 + 64) * 2);
  assert.equal(c.compressedBytesPerToken / c.fp16FullBytesPerToken, 0.75);
  // 36 full-key tokens (32 recent + 4 generated) and 90 heads' int64 indices on top, over 2,004 tokens.
  const whole = c.bytesPerToken / c.fp16FullBytesPerToken;
  assert.ok(whole > 0.75 && whole < 0.76, `whole cache ${whole}x`);
  const f32 = (await run('--prune-ratio', '0.5', '--cache-precision', 'float32')).cache;
  assert.equal(f32.bytesPerElement, 4);
  assert.equal(f32.compressedBytesPerToken, 2 * c.compressedBytesPerToken, 'float32 stays a setting, at twice the bytes');
});

test('ThinK 0.5 + KIVI 4-bit: at most 0.35x an unpruned float16 cache per token', async (t) => {
  if (skipWithoutModel(t, join(SMOLLM2, 'config.json'), 'model config')) return;
  const c = (await run('--prune-ratio', '0.5', '--kv-bits', '4')).cache;
  const ratio = c.bytesPerToken / c.fp16FullBytesPerToken;
  t.diagnostic(`bytes per token ${c.bytesPerToken.toFixed(0)} vs fp16 unpruned ${c.fp16FullBytesPerToken}: ${ratio.toFixed(3)}x; per compressed token ${(c.compressedBytesPerToken / c.fp16FullBytesPerToken).toFixed(3)}x`);
  assert.ok(ratio <= 0.35, `${ratio} > 0.35`);
  assert.ok(c.compressedBytesPerToken / c.fp16FullBytesPerToken <= 0.35);
});

test('ThinK 0.5 + KIVI 2-bit: bytesPerToken <= 0.2 x fp16FullBytesPerToken (SmolLM2-135M shape, 2,000-token prompt)', async (t) => {
  if (skipWithoutModel(t, join(SMOLLM2, 'config.json'), 'model config')) return;
  const r = await run('--prune-ratio', '0.5', '--kv-bits', '2');
  const ratio = r.cache.bytesPerToken / r.cache.fp16FullBytesPerToken;
  t.diagnostic(`bytes per token ${r.cache.bytesPerToken.toFixed(0)} vs fp16 unpruned ${r.cache.fp16FullBytesPerToken}: ${ratio.toFixed(3)}x`);
  assert.equal(r.cache.fp16FullBytesPerToken, 30 * 3 * 64 * 2 * 2);
  assert.equal(r.cache.tokens, 2004);
  assert.ok(r.cache.quantizedTokens >= 1900, 'the compressed tokens are KIVI codes');
  assert.ok(ratio <= 0.2, `${ratio} > 0.2`);
});
