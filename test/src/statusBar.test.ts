// The status bar item against the mocked vscode module: the cache's size and the memory budget in
// the same binary units (core/numberFormat.ts) as the Cache Inspector.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import type { CacheStats } from '../../core/protocol/rpc';
import { StatusBar } from '../../src/statusBar';
import { mock } from '../support/vscode';

afterEach(() => mock.reset());

const cache: CacheStats = {
  tokens: 1000,
  prunedTokens: 968,
  fullTokens: 32,
  keyBytes: 3 * 2 ** 20,
  valueBytes: 5 * 2 ** 20,
  fullKeyBytes: 6 * 2 ** 20,
  pruneRatio: 0.5,
  bytesPerElement: 4,
  allocatedBytes: 10 * 2 ** 20,
  bytesPerToken: 8400,
  fp16FullBytesPerToken: 23040,
  compressedBytesPerToken: 17280,
  evictedTokens: 0,
  quantizedTokens: 0,
};

test('statusBar: cache bytes in KiB/MiB and the budget (thinkLens.memoryBudgetMb is MiB) in the same units', () => {
  const bar = new StatusBar();
  bar.update({ state: 'ready', hasModel: true, modelName: 'SmolLM2', cache, memoryBudgetMb: 64 });
  const item = mock.statusBarItems[0];
  assert.equal(item.text, '$(check) ThinK: ready · 8.0 MiB');
  const tooltip = String(item.tooltip);
  assert.match(tooltip, /^Cache: 1000 tokens, 8\.0 MiB \(keys 3\.0 MiB vs 6\.0 MiB unpruned, 50% saved\)$/m);
  assert.match(tooltip, /^Memory budget: 12\.5% of 64\.0 MiB$/m);
  assert.doesNotMatch(tooltip, /\bMB\b|\bKB\b/);
  bar.update({ state: 'ready', hasModel: true, cache: { ...cache, keyBytes: 512, valueBytes: 1024 }, memoryBudgetMb: 1024 });
  assert.equal(item.text, '$(check) ThinK: ready · 1.5 KiB');
  assert.match(String(item.tooltip), /of 1\.0 GiB$/m);
  bar.dispose();
});
