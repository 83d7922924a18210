// Cancellation through the real engine on its worker thread (EngineHost), with the real
// stories260k model: a cancel stops decoding within one decode step and a prefill within one chunk.
// Bounds are counted in tokens and chunks, never in time.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ProgressNotification } from '../../../core/protocol/rpc';
import { EngineHost, type CancelOutcome } from '../../../runtime/host/engineHost';
import { STORIES, skipWithoutModel } from '../../support/models';

let host: EngineHost;
let onProgress: (p: ProgressNotification) => void = () => {};
let onToken: () => void = () => {};

before(() => {
  host = new EngineHost({ onProgress: (p) => onProgress(p), onToken: () => onToken() });
});
after(() => host.dispose());

test('cancel during decode stops within one decode step', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  await host.load({ modelDir: STORIES });
  let outcome: CancelOutcome | null = null;
  let seen = 0;
  onToken = () => {
    if (++seen === 5) outcome = host.cancel('dec');
  };
  const result = await host.generate({ requestId: 'dec', prompt: { ids: [1] }, maxNewTokens: 400 });
  onToken = () => {};
  assert.ok(outcome, 'the cancel was sent');
  const o = outcome as CancelOutcome;
  assert.equal(o.cancelled, true);
  assert.equal(result.finishReason, 'cancelled');
  assert.ok(o.generatedAtCancel >= 1, 'the cancel landed during decode');
  assert.ok(
    result.ids.length - o.generatedAtCancel <= 1,
    `${result.ids.length - o.generatedAtCancel} tokens were generated after the cancel took effect (at most 1 allowed)`,
  );
  assert.ok(result.ids.length < 400);
  // The engine is free again and a new request runs to its end.
  const next = await host.generate({ requestId: 'after', prompt: { ids: [1] }, maxNewTokens: 3 });
  assert.equal(next.finishReason, 'length');
  assert.equal(next.ids.length, 3);
});

test('cancel during prefill stops within one chunk', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const chunk = 1;
  await host.load({ modelDir: STORIES, prefillChunk: chunk });
  const prompt = Array.from({ length: 500 }, (_, i) => (i === 0 ? 1 : 260 + ((i * 37) % 240)));
  let outcome: CancelOutcome | null = null;
  let reached = 0;
  onProgress = (p) => {
    if (p.phase !== 'prefill') return;
    reached = Math.max(reached, p.processed);
    outcome ??= host.cancel('pre');
  };
  const result = await host.generate({ requestId: 'pre', prompt: { ids: prompt }, maxNewTokens: 4 });
  onProgress = () => {};
  const o = outcome as CancelOutcome | null;
  assert.ok(o?.cancelled, 'the cancel was sent during prefill');
  assert.equal(result.finishReason, 'cancelled');
  assert.deepEqual(result.ids, []);
  assert.ok(reached < prompt.length, 'the prefill did not run to its end');
  assert.ok(reached - o!.processedAtCancel <= chunk, `prefill went ${reached - o!.processedAtCancel} tokens past the cancel (at most one chunk of ${chunk})`);
});

test('cancel names its request: another id or no generation cancels nothing', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  assert.equal(host.cancel('nothing-running').cancelled, false);
  let outcome: CancelOutcome | null = null;
  onToken = () => {
    outcome ??= host.cancel('some-other-request');
  };
  const result = await host.generate({ requestId: 'mine', prompt: { ids: [1] }, maxNewTokens: 8 });
  onToken = () => {};
  assert.equal((outcome as CancelOutcome | null)?.cancelled, false);
  assert.equal(result.finishReason, 'length');
});
