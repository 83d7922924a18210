// The Cache Inspector webview in real Chromium, fed the protocol messages recorded from the engine
// on stories260k (test/fixtures/webview/inspector-session.json): live figures during prefill and
// decode, the memory-budget gauge, the layer x KV-head heatmap, a head's channel chart, and the
// state it restores after a reload.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { formatBytes, formatPercent } from '../../core/numberFormat';
import type { ProgressNotification, ThinkMasks } from '../../core/protocol/rpc';
import type { InspectorInMessage } from '../../core/protocol/webview';
import { loadFixture, openWebview, useChromium } from '../support/webviewHarness';

const chromium = useChromium({ before, after });

const session = loadFixture<InspectorInMessage>('inspector-session').messages;
const stateMsg = session[0] as Extract<InspectorInMessage, { type: 'state' }>;
const progressOf = (m: InspectorInMessage) => (m as Extract<InspectorInMessage, { type: 'progress' }>).progress;
const masksIndex = session.findIndex((m) => m.type === 'masks');
const masks = (session[masksIndex] as { masks: ThinkMasks }).masks;
const stat = (page: Page, key: string) => page.locator(`[data-stat="${key}"]`).textContent();

function expectCache(c: ProgressNotification['cache']) {
  return {
    tokens: `${c.tokens} (${c.prunedTokens} pruned, ${c.fullTokens} full keys)`,
    keys: `${formatBytes(c.keyBytes)} of ${formatBytes(c.fullKeyBytes)} unpruned (${formatPercent(1 - c.keyBytes / c.fullKeyBytes)} saved)`,
    values: formatBytes(c.valueBytes),
    total: `${formatBytes(c.keyBytes + c.valueBytes)} of ${formatBytes(c.fullKeyBytes + c.valueBytes)} unpruned`,
    'prune-ratio': formatPercent(c.pruneRatio),
  };
}

async function readCache(page: Page) {
  const out: Record<string, string | null> = {};
  for (const key of ['tokens', 'keys', 'values', 'total', 'prune-ratio']) out[key] = await stat(page, key);
  return out;
}

test('inspector: live figures during prefill and decode, gauge, heatmap and a head\'s channel chart', async (t) => {
  if (typeof chromium.browser === 'string') return t.skip(chromium.browser);
  const view = await openWebview(chromium.browser, chromium.server!, 'inspector');
  const { page } = view;

  // Mid-prefill: the second chunk of the prompt is in.
  await view.dispatch(session.slice(0, 3));
  const mid = progressOf(session[2]);
  assert.equal(mid.phase, 'prefill');
  assert.equal(await stat(page, 'state'), 'busy');
  assert.match((await stat(page, 'model')) ?? '', /^LlamaForCausalLM · 5 layers · 4 KV heads · head_dim 8 · cpu · ratio per layer, window 32, recent 32, flush 64$/);
  assert.equal(await stat(page, 'prefill'), `${mid.processed} of ${mid.total} tokens (${formatPercent(mid.processed / mid.total)})`);
  assert.match((await stat(page, 'prefill-rate')) ?? '', /^[\d,.]+ tok\/s$/);
  assert.equal(await page.locator('#prefill-bar').getAttribute('aria-valuenow'), (mid.processed / mid.total).toFixed(4));
  assert.deepEqual(await readCache(page), expectCache(mid.cache));
  assert.equal(await stat(page, 'decode'), 'waiting for prefill');
  assert.equal(await page.locator('#heatmap .cell').count(), 0, 'no masks before prefill ends');

  // The whole recorded request.
  await view.dispatch(session.slice(3));
  const last = progressOf(session[session.length - 1]);
  const lastPrefill = progressOf([...session].reverse().find((m) => m.type === 'progress' && m.progress.phase === 'prefill')!);
  assert.equal(last.phase, 'done');
  assert.deepEqual(await readCache(page), expectCache(last.cache));
  assert.equal(await stat(page, 'prefill'), `${lastPrefill.total} of ${lastPrefill.total} tokens (100%)`, 'prefill figures stay through decode');
  assert.equal(await stat(page, 'decode'), `done, ${last.generated} tokens`);
  assert.equal(await stat(page, 'gpu'), 'nothing: the cache is in host memory', 'recorded on the CPU');
  const used = last.cache.keyBytes + last.cache.valueBytes;
  const budget = stateMsg.memoryBudgetMb * 1024 * 1024;
  assert.equal(await stat(page, 'budget'), `${formatBytes(used)} of ${formatBytes(budget)} budget (${formatPercent(used / budget)})`);
  assert.equal(await page.locator('.gauge-track').getAttribute('aria-valuenow'), String(used));
  assert.equal(await page.locator('.gauge-mark').count(), 1, 'the unpruned size is marked on the gauge');

  // Heatmap: one button per layer x KV head.
  const cells = page.locator('#heatmap .heatmap button.cell');
  assert.equal(await cells.count(), masks.layers.length * masks.layers[0].length);
  assert.equal(await cells.count(), 20);
  assert.equal(await page.locator('#heatmap .row-label').count(), 5);
  assert.equal(await page.locator('#heatmap .col-label').count(), 4);
  assert.deepEqual(await cells.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-kept')))), masks.layers.flatMap((l) => l.map((h) => h.kept.length)));

  // Click layer 3, KV head 2: its channel scores as bars, kept ones marked.
  await page.locator('#heatmap .cell[data-layer="3"][data-head="2"]').click();
  await view.settle();
  const head = masks.layers[3][2];
  const bars = page.locator('.channel-chart .bar');
  assert.equal(await bars.count(), masks.headDim);
  const keptBars = await bars.evaluateAll((els) => els.filter((e) => e.classList.contains('kept')).map((e) => Number(e.getAttribute('data-channel'))));
  assert.deepEqual(keptBars, head.kept);
  assert.match((await page.locator('.channel-chart figcaption').textContent()) ?? '', new RegExp(`^Layer 3, KV head 2: ${head.kept.length} of ${masks.headDim} channels kept`));
  // Bar heights follow the scores: the best channel is full height, and heights rank like scores.
  const heights = await bars.evaluateAll((els) => els.map((e) => (e.querySelector('.bar-fill') as HTMLElement).getBoundingClientRect().height));
  const best = head.scores.indexOf(Math.max(...head.scores));
  assert.equal(heights.indexOf(Math.max(...heights)), best);
  const order = (xs: number[]) => xs.map((_, i) => i).sort((a, b) => xs[b] - xs[a] || a - b);
  assert.deepEqual(order(heights).slice(0, 3), order(head.scores).slice(0, 3));
  assert.equal(await page.locator('#heatmap .cell.selected').getAttribute('data-layer'), '3');
  assert.deepEqual((await view.posted()).filter((m) => m.type === 'selectHead'), [{ type: 'selectHead', layer: 3, head: 2 }]);

  assert.deepEqual(view.errors, []);
  assert.deepEqual(view.cspViolations, []);
  await view.screenshot('inspector');

  // Reload: the page restores itself from setState before any host message arrives.
  const before = { cache: await readCache(page), budget: await stat(page, 'budget'), prefill: await stat(page, 'prefill') };
  await page.reload();
  await page.waitForFunction(() => (window as unknown as { __posted: Array<{ type: string }> }).__posted.some((m) => m.type === 'ready'));
  await view.settle();
  assert.deepEqual({ cache: await readCache(page), budget: await stat(page, 'budget'), prefill: await stat(page, 'prefill') }, before);
  assert.equal(await page.locator('#heatmap button.cell').count(), 20);
  assert.equal(await page.locator('#heatmap .cell.selected').getAttribute('data-head'), '2');
  assert.deepEqual(await page.locator('.channel-chart .bar.kept').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-channel')))), head.kept);
  await view.screenshot('inspector-restored');
  await page.close();
});

test('inspector: keyboard selects a head; a cache over the memory budget is flagged', async (t) => {
  if (typeof chromium.browser === 'string') return t.skip(chromium.browser);
  const view = await openWebview(chromium.browser, chromium.server!, 'inspector');
  const { page } = view;
  await view.dispatch([{ ...stateMsg, memoryBudgetMb: 0.25 }, ...session.slice(1)]);
  await page.locator('#heatmap .cell[data-layer="0"][data-head="1"]').focus();
  await page.keyboard.press('Enter');
  await view.settle();
  assert.equal(await page.locator('.channel-chart').getAttribute('data-head'), '1');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-head')), '1', 'focus stays on the chosen cell');
  assert.equal(await page.locator('.gauge.over').count(), 1);
  assert.match((await stat(page, 'budget')) ?? '', /, over budget$/);
  // A new model with fewer layers drops a selection that no longer exists.
  await page.locator('#heatmap .cell[data-layer="4"][data-head="3"]').click();
  await view.dispatch([{ type: 'masks', masks: { headDim: 8, layers: masks.layers.slice(0, 2) } }]);
  assert.equal(await page.locator('#heatmap button.cell').count(), 8);
  assert.equal(await page.locator('.channel-chart').count(), 0);
  await page.close();
});

test('inspector: on WebGPU it shows what the cache keeps on the GPU and what it sends per step', async (t) => {
  if (typeof chromium.browser === 'string') return t.skip(chromium.browser);
  const view = await openWebview(chromium.browser, chromium.server!, 'inspector');
  const { page } = view;
  const last = progressOf(session[session.length - 1]);
  const gpu = { residentBytes: 3 * 1024 * 1024 + 512 * 1024, hostBytesLastStep: 50562, uploads: 3, uploadedBytes: 9 * 1024 * 1024 };
  await view.dispatch([...session, { type: 'progress', progress: { ...last, cache: { ...last.cache, gpu } } }]);
  assert.equal(await stat(page, 'gpu'), `${formatBytes(gpu.residentBytes)} resident, ${formatBytes(gpu.hostBytesLastStep)} sent per step`);
  // Quantized weights are named with the model.
  await view.dispatch([{ ...stateMsg, model: { ...stateMsg.model!, quantize: 'int8' }, device: 'webgpu' }]);
  assert.match((await stat(page, 'model')) ?? '', /^LlamaForCausalLM · 5 layers · 4 KV heads · head_dim 8 · int8 weights · webgpu · /);
  assert.deepEqual(view.errors, []);
  await page.close();
});
