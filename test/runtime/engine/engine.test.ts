// Engine behaviour beyond numerics: clear errors for bad requests, follow-ups that reuse the
// pruned cache by its handle (and stale handles refused), byte accounting, streaming and stop strings.
import { projectCacheBytes } from '../../../core/cacheProjection';
import { DEFAULT_COMPRESSION } from '../../../core/protocol/settings';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Engine } from '../../../runtime/engine/engine';
import { ContextOverflowError, ModelError, StaleCacheError } from '../../../runtime/model/errors';
import { collectingHooks } from '../../support/hooks';
import { STORIES, missingModel, quietLog, skipWithoutModel } from '../../support/models';
import { writeTinyModel } from '../../support/tinyModels';

const root = mkdtempSync(join(tmpdir(), 'think-engine-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('engine on a tiny model without a tokenizer', () => {
  let engine: Engine;
  before(async () => {
    const dir = join(root, 'tiny');
    await writeTinyModel(dir, 'llama', { seed: 3 });
    engine = await Engine.load({ modelDir: dir, think: { ratio: 0.5, window: 8, recent: 4, flush: 8 } }, quietLog);
  });
  after(() => engine?.dispose());

  test('a text prompt names the missing tokenizer.json', async () => {
    await assert.rejects(
      engine.generate({ requestId: 'a', prompt: { text: 'hello' } }, collectingHooks()),
      (e: unknown) => e instanceof ModelError && /tokenizer\.json: missing/.test(e.message),
    );
  });

  test('a prompt longer than the context is refused before any work', async () => {
    const ctx = engine.loaded.model.contextLength;
    await assert.rejects(
      engine.generate({ requestId: 'b', prompt: { ids: new Array(ctx + 5).fill(3) } }, collectingHooks()),
      (e: unknown) => e instanceof ContextOverflowError && e.promptTokens === ctx + 5 && e.contextLength === ctx,
    );
  });

  test('token ids outside the vocabulary and bad ThinK settings get specific messages', async () => {
    await assert.rejects(engine.generate({ requestId: 'c', prompt: { ids: [1, 99999] } }, collectingHooks()), /token id 99999 is outside the vocabulary/);
    await assert.rejects(engine.generate({ requestId: 'd', prompt: { ids: [1, 2] }, think: { ratio: 1.5 } }, collectingHooks()), /prune ratio must be in \[0, 1\)/);
    await assert.rejects(engine.generate({ requestId: 'e', prompt: { ids: [1, 2] }, think: { flush: 2, recent: 4 } }, collectingHooks()), /flush must be 0 \(off\) or greater than recent/);
  });

  test('keyBytes is exactly (pruned x kept + full x D) x 2 (the float16 cache) summed over layers and KV heads', async () => {
    const r = await engine.generate({ requestId: 'f', prompt: { ids: Array.from({ length: 30 }, (_, i) => i + 1) }, maxNewTokens: 5 }, collectingHooks());
    const m = engine.loaded.model;
    const masks = engine.snapshot().masks!;
    let elems = 0;
    for (const layer of masks.layers) for (const h of layer) elems += r.cache.prunedTokens * h.kept.length + r.cache.fullTokens * m.headDim;
    assert.equal(r.cache.bytesPerElement, 2);
    assert.equal(r.cache.keyBytes, elems * 2);
    assert.equal(r.cache.tokens, 30 + 5);
    assert.equal(r.cache.valueBytes, m.layers * m.kvHeads * 35 * m.headDim * 2);
    assert.equal(r.cache.fullKeyBytes, r.cache.valueBytes);
    assert.ok(r.cache.keyBytes < r.cache.fullKeyBytes, 'pruned keys are smaller');
    assert.equal(r.cache.pruneRatio, 0.5);
  });

  test('a prompt shorter than the recent window: generated tokens still flush (every channel kept), so the full tier stays small', async () => {
    const r = await engine.generate({ requestId: 'short', prompt: { ids: [5, 6, 7] }, maxNewTokens: 20 }, collectingHooks());
    assert.equal(r.cache.tokens, 3 + 20);
    assert.equal(r.cache.prunedTokens, 0, 'no mask was chosen: nothing is reported pruned');
    // The engine's own cache: flush 8, recent 4, so at most 8 tokens are left in the full tier.
    const cache = (engine as unknown as { conversation: { cache: { full: number; compact: number } } }).conversation.cache;
    assert.ok(cache.full <= 8 && cache.compact >= 15, `full ${cache.full}, compact ${cache.compact}`);
    // No mask was chosen, so the compacted tokens keep every channel; the projection counts them so.
    const m = engine.loaded.model;
    assert.equal(Math.round(r.cache.bytesPerToken * r.cache.tokens), projectCacheBytes({ think: engine.loaded.think, compression: DEFAULT_COMPRESSION }, 3, 20, m));
  });

  test('a follow-up naming the cache handle continues the cache: same as one long prompt without re-reading', async () => {
    const first = Array.from({ length: 20 }, (_, i) => (i * 7) % 200);
    const a = await engine.generate({ requestId: 'g', prompt: { ids: first }, maxNewTokens: 4 }, collectingHooks());
    assert.ok(typeof a.cacheId === 'string' && a.cacheId.length > 0, 'the result names its cache');
    const follow = [5, 6, 7];
    const hooks = collectingHooks();
    const b = await engine.generate({ requestId: 'h', prompt: { ids: follow }, maxNewTokens: 4, cache: { extend: a.cacheId } }, hooks);
    assert.equal(b.cacheId, a.cacheId, 'an extended cache keeps its handle');
    assert.equal(b.cache.tokens, first.length + 4 + follow.length + 4, 'the cache holds both turns');
    assert.equal(hooks.progress.filter((p) => p.phase === 'prefill').at(-1)!.total, follow.length, 'only the new tokens were read');
    assert.ok(a.cache.prunedTokens > 0 && b.cache.prunedTokens >= a.cache.prunedTokens, 'the pruned prefix was reused');
  });

  test('a stale or missing handle is refused, never read as a reset; the held cache stays usable', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => i + 3);
    const old = await engine.generate({ requestId: 's1', prompt: { ids }, maxNewTokens: 2 }, collectingHooks());
    const held = await engine.generate({ requestId: 's2', prompt: { ids }, maxNewTokens: 2, cache: 'reset' }, collectingHooks());
    assert.ok(held.cacheId && held.cacheId !== old.cacheId, 'every fresh cache gets a new handle');
    const stale = (asked: string | null) => (e: unknown) => e instanceof StaleCacheError && e.asked === asked && e.held === held.cacheId;
    await assert.rejects(engine.generate({ requestId: 's3', prompt: { ids: [5] }, cache: { extend: old.cacheId! } }, collectingHooks()), stale(old.cacheId));
    await assert.rejects(
      engine.generate({ requestId: 's4', prompt: { ids: [5] }, cache: { extend: old.cacheId! } }, collectingHooks()),
      new RegExp(`^StaleCacheError: cache ${old.cacheId} is not held: the runtime holds cache ${held.cacheId}; send the whole prompt again with cache 'reset'$`),
    );
    await assert.rejects(engine.generate({ requestId: 's5', prompt: { ids: [5] }, cache: 'extend' as never }, collectingHooks()), stale(null));
    await assert.rejects(engine.generate({ requestId: 's6', prompt: { ids: [5] }, cache: { extend: '' } }, collectingHooks()), stale(null));
    assert.equal(engine.snapshot().cache?.tokens, ids.length + 2, 'the refusals touched nothing');
    const next = await engine.generate({ requestId: 's7', prompt: { ids: [5] }, maxNewTokens: 2, cache: { extend: held.cacheId! } }, collectingHooks());
    assert.equal(next.cache.tokens, ids.length + 2 + 1 + 2);
  });

  test('a cancel while the prompt is read leaves no handle, and extending the previous one is refused', async () => {
    const before = await engine.generate({ requestId: 'p1', prompt: { ids: [1, 2, 3] }, maxNewTokens: 2 }, collectingHooks());
    const hooks = collectingHooks();
    hooks.cancel = true;
    const r = await engine.generate({ requestId: 'p2', prompt: { ids: [4, 5, 6] }, maxNewTokens: 2, cache: { extend: before.cacheId! } }, hooks);
    assert.equal(r.finishReason, 'cancelled');
    assert.equal(r.cacheId, null, 'a half-read prompt is nothing to build on');
    assert.equal(engine.snapshot().cache, undefined);
    await assert.rejects(
      engine.generate({ requestId: 'p3', prompt: { ids: [7] }, cache: { extend: before.cacheId! } }, collectingHooks()),
      (e: unknown) => e instanceof StaleCacheError && e.asked === before.cacheId && e.held === null && /the runtime holds no reusable cache/.test(e.message),
    );
  });

  test('a cancel while answering keeps the cache and its handle: a follow-up extends it', async () => {
    const hooks = collectingHooks();
    // No tokenizer here, so no token notifications: the first decode step's progress presses Stop.
    hooks.onProgress = (p) => void (p.phase === 'decode' && (hooks.cancel = true));
    const a = await engine.generate({ requestId: 'd1', prompt: { ids: [1, 2, 3, 4] }, maxNewTokens: 50 }, hooks);
    assert.equal(a.finishReason, 'cancelled');
    assert.ok(a.cacheId);
    const b = await engine.generate({ requestId: 'd2', prompt: { ids: [9] }, maxNewTokens: 2, cache: { extend: a.cacheId } }, collectingHooks());
    assert.equal(b.cacheId, a.cacheId);
    assert.equal(b.cache.tokens, a.cache.tokens + 1 + 2);
  });
});

describe('engine on stories260k (real tokenizer)', () => {
  let engine: Engine | null = null;
  before(async () => {
    if (existsSync(STORIES)) engine = await Engine.load({ modelDir: STORIES }, quietLog);
  });
  after(() => engine?.dispose());

  test('streamed pieces concatenate to the result text; stop strings end generation without the stop text', async (t) => {
    if (!engine) return t.skip(missingModel(STORIES));
    const hooks = collectingHooks();
    const r = await engine.generate({ requestId: 's', prompt: { text: 'Once upon a time' }, maxNewTokens: 60, stop: ['Lily'] }, hooks);
    assert.equal(r.finishReason, 'stop');
    assert.equal(hooks.text, r.text);
    assert.ok(!r.text.includes('Lily') && r.text.length > 0, r.text);
    assert.equal(engine.countTokens(['Once upon a time'])[0], r.promptTokens - 1, 'prompt = BOS + the text');
  });

  test('chat follow-ups extend the cache with only the new turn (plain fallback template)', async (t) => {
    if (!engine) return t.skip(missingModel(STORIES));
    const first = await engine.generate(
      { requestId: 'c1', prompt: { messages: [{ role: 'system', content: 'Tell stories.' }, { role: 'user', content: 'A story about a cat.' }] }, maxNewTokens: 12 },
      collectingHooks(),
    );
    const hooks = collectingHooks();
    const second = await engine.generate({ requestId: 'c2', prompt: { messages: [{ role: 'user', content: 'And a dog?' }] }, maxNewTokens: 8, cache: { extend: first.cacheId! } }, hooks);
    const read = hooks.progress.filter((p) => p.phase === 'prefill').at(-1)!.total;
    assert.equal(read, engine.countTokens(['\nUser: And a dog?\nAssistant:'])[0], 'only the new turn was read');
    assert.ok(read < first.promptTokens);
    assert.equal(second.cache.tokens, first.cache.tokens + read + second.ids.length);
  });

  test('a model folder without tokenizer.json still loads, and a text prompt names the file', async (t) => {
    if (!engine) return t.skip(missingModel(STORIES));
    const dir = join(root, 'stories-no-tok');
    cpSync(STORIES, dir, { recursive: true });
    rmSync(join(dir, 'tokenizer.json'));
    const e = await Engine.load({ modelDir: dir }, quietLog);
    try {
      await assert.rejects(e.generate({ requestId: 'x', prompt: { text: 'hi' } }, collectingHooks()), new RegExp(`${join(dir, 'tokenizer.json')}: missing`));
      const ok = await e.generate({ requestId: 'y', prompt: { ids: [1] }, maxNewTokens: 3 }, collectingHooks());
      assert.deepEqual(ok.ids, [403, 407, 261]);
    } finally {
      await e.dispose();
    }
  });
});

describe('execution providers', () => {
  // This file's process sees no Vulkan driver, so WebGPU really cannot start here even where one is
  // installed (CI installs lavapipe for webgpu.test.ts): the Vulkan loader reads these at instance
  // creation, which onnxruntime does on the first WebGPU session.
  process.env.VK_ICD_FILENAMES = '/nonexistent/think-lens-no-vulkan.json';
  process.env.VK_DRIVER_FILES = '/nonexistent/think-lens-no-vulkan.json';
  for (const device of ['cuda', 'webgpu'] as const) {
    test(`${device} without its provider falls back to CPU with one clear warning, and still answers correctly`, async (t) => {
      if (skipWithoutModel(t, STORIES)) return;
      const logs: [string, string][] = [];
      const e = await Engine.load({ modelDir: STORIES, device }, (level, message) => logs.push([level, message]));
      try {
        if (e.loaded.device === device) return t.skip(`${device} is really available here; nothing to fall back from`);
        assert.equal(e.loaded.device, 'cpu');
        assert.match(e.loaded.fallback!, new RegExp(`^${device} execution provider could not start \\(.+\\); running on CPU$`));
        const warnings = logs.filter(([level]) => level === 'warn');
        assert.equal(warnings.length, 1, JSON.stringify(logs));
        assert.equal(warnings[0][1], e.loaded.fallback);
        const r = await e.generate({ requestId: 'p', prompt: { ids: [1] }, maxNewTokens: 3 }, collectingHooks());
        assert.deepEqual(r.ids, [403, 407, 261]);
      } finally {
        await e.dispose();
      }
    });
  }
});
