// Sanity of the float64 reference's compression paths (docs/compression.md) on tiny random
// models: each knob does nothing where the document says it must do nothing, and something
// measurable where it must bite. The engine's exactness tests then compare against these paths.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { openModel } from '../../../runtime/model/weights';
import { KIVI_GROUP } from '../../support/compressionReference';
import { ReferenceModel, type RefEvict, type RefThink } from '../../support/reference';
import { writeTinyModel, type TinyVariant } from '../../support/tinyModels';

const models = new Map<TinyVariant, ReferenceModel>();
const VARIANTS: TinyVariant[] = ['llama', 'mistral', 'qwen2'];
const N = 80;
const prompt = Array.from({ length: N }, (_, i) => (i * 53 + 7) % 250 + 3);
const think: RefThink = { ratio: 0.5, window: 8, recent: 8, flush: 0 };
const noPrune: RefThink = { ratio: 0, window: 8, recent: 8, flush: 0 };
const snap = (tokenBudget: number, window = 16): RefEvict => ({ method: 'snapkv', tokenBudget, window, kernel: 7 });

before(async () => {
  for (const v of VARIANTS) {
    const dir = mkdtempSync(join(tmpdir(), `refc-${v}-`));
    await writeTinyModel(dir, v);
    models.set(v, new ReferenceModel(openModel(dir)));
  }
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('window attention mass: every window query row spreads exactly 1 per query head', () => {
  for (const [v, ref] of models) {
    const r = ref.greedy(prompt, 1, null, { compression: { evict: snap(1000, 16) } });
    const G = ref.config.queryHeads / ref.config.kvHeads;
    for (const layer of r.windowMass!)
      for (const a of layer) {
        assert.equal(a.length, N);
        const total = a.reduce((s, x) => s + x, 0);
        assert.ok(Math.abs(total - G * 16) < 1e-9, `${v}: mass sums to ${total}, expected ${G * 16}`);
        assert.ok(a.every((x) => x >= 0));
      }
  }
});

test('eviction with a budget covering the prefix changes nothing', () => {
  for (const [v, ref] of models) {
    const plain = ref.greedy(prompt, 6, think);
    for (const method of ['snapkv', 'h2o'] as const) {
      const r = ref.greedy(prompt, 6, think, { compression: { evict: { method, tokenBudget: N - 16, window: 16, kernel: 7 } } });
      assert.equal(r.evictedTokens, 0);
      assert.deepEqual(r.ids, plain.ids, `${v} ${method}`);
      r.stepLogits.forEach((l, i) => assert.deepEqual(l, plain.stepLogits[i], `${v} ${method} step ${i}`));
      for (const layer of r.keptTokens!) for (const head of layer) assert.deepEqual(head, prompt.map((_, t) => t));
    }
  }
});

test('eviction: B + w tokens per head, the window always kept, heads choose differently, decode changes', () => {
  const B = 20;
  const w = 16;
  for (const [v, ref] of models) {
    const plain = ref.greedy(prompt, 4, null);
    for (const method of ['snapkv', 'h2o'] as const) {
      const r = ref.greedy(prompt, 4, null, { compression: { evict: { method, tokenBudget: B, window: w, kernel: 7 } } });
      assert.equal(r.evictedTokens, N - w - B);
      const sets = r.keptTokens!.flat();
      for (const head of sets) {
        assert.equal(head.length, B + w);
        assert.deepEqual(head, [...head].sort((a, b) => a - b));
        for (let t = N - w; t < N; t++) assert.ok(head.includes(t), `${v} ${method}: window position ${t} evicted`);
      }
      assert.ok(new Set(sets.map((s) => s.join())).size > 1, `${v} ${method}: every head kept the same tokens`);
      assert.deepEqual(r.stepLogits[0], plain.stepLogits[0], `${v}: eviction happens after the prompt's logits`);
      assert.ok(maxAbsDiff(r.stepLogits[1], plain.stepLogits[1]) > 1e-6, `${v} ${method}: evicted tokens still attended`);
    }
  }
});

test('H2O keeps heavy hitters: no evicted prefix token outweighs a kept one', () => {
  const ref = models.get('llama')!;
  const w = 16;
  const r = ref.greedy(prompt, 1, null, { compression: { evict: { method: 'h2o', tokenBudget: 12, window: w, kernel: 7 } } });
  r.keptTokens!.forEach((layer, l) =>
    layer.forEach((head, g) => {
      const a = r.windowMass![l][g];
      const keptPrefix = head.filter((t) => t < N - w);
      const lightestKept = Math.min(...keptPrefix.map((t) => a[t]));
      for (let t = 0; t < N - w; t++) if (!head.includes(t)) assert.ok(a[t] <= lightestKept, `layer ${l} head ${g}: evicted ${t} outweighs a kept token`);
    }),
  );
});

test('SnapKV keeps the top tokens of the max-pooled mass, which differs from H2O on a real cache', () => {
  const ref = models.get('qwen2')!;
  const opts = (method: 'snapkv' | 'h2o') => ({ compression: { evict: { method, tokenBudget: 12, window: 16, kernel: 7 } } });
  const s = ref.greedy(prompt, 1, null, opts('snapkv'));
  const h = ref.greedy(prompt, 1, null, opts('h2o'));
  assert.notDeepEqual(s.keptTokens, h.keptTokens);
  // SnapKV's choice clusters: a kept prefix token has a kept or window token within 3 positions more often than not.
  let near = 0;
  let total = 0;
  for (const layer of s.keptTokens!)
    for (const head of layer)
      for (const t of head.filter((u) => u < N - 16)) {
        total++;
        if (head.some((u) => u !== t && Math.abs(u - t) <= 3)) near++;
      }
  assert.ok(near / total > 0.5, `only ${near} of ${total} kept tokens have a kept neighbour`);
});

test('KIVI: fewer than 32 compressed tokens quantize nothing; otherwise whole groups only, 4-bit closer than 2-bit', () => {
  for (const [v, ref] of models) {
    const base = ref.greedy(prompt, 4, noPrune);
    const short = ref.greedy(prompt, 4, { ...noPrune, recent: N - 20 }, { compression: { kvBits: 2 } });
    assert.equal(short.compressedTokens, 20);
    assert.equal(short.quantizedTokens, 0);
    short.stepLogits.forEach((l, i) => assert.deepEqual(l, base.stepLogits[i], `${v}: step ${i} changed without a whole group`));

    const q2 = ref.greedy(prompt, 4, noPrune, { compression: { kvBits: 2 } });
    const q4 = ref.greedy(prompt, 4, noPrune, { compression: { kvBits: 4 } });
    assert.equal(q2.compressedTokens, N - 8);
    assert.equal(q2.quantizedTokens, Math.floor((N - 8) / KIVI_GROUP) * KIVI_GROUP);
    assert.deepEqual(q2.stepLogits[0], base.stepLogits[0]);
    const d2 = maxAbsDiff(q2.stepLogits[1], base.stepLogits[1]);
    const d4 = maxAbsDiff(q4.stepLogits[1], base.stepLogits[1]);
    assert.ok(d4 > 0 && d2 > d4, `${v}: 2-bit error ${d2} should exceed 4-bit error ${d4}`);
  }
});

test('KIVI with flush: flushed tokens join the store and later whole groups get quantized', () => {
  const ref = models.get('mistral')!;
  const recent = 4;
  const flush = 40;
  const steps = 60;
  const r = ref.greedy(prompt.slice(0, 40), steps, { ratio: 0.5, window: 8, recent, flush }, { compression: { kvBits: 4 } });
  // Prompt: 36 compressed (32 quantized). Full rows after decode step j: recent + j; the flush
  // after step 37 (41 > 40) compresses 37 more (73), step 74 would be the next (beyond 59 steps).
  assert.equal(r.compressedTokens, 36 + 37);
  assert.equal(r.quantizedTokens, 64);
  const noFlush = ref.greedy(prompt.slice(0, 40), steps, { ratio: 0.5, window: 8, recent, flush: 0 }, { compression: { kvBits: 4 } });
  assert.equal(noFlush.quantizedTokens, 32);
  for (let i = 0; i <= 37; i++) assert.deepEqual(r.stepLogits[i], noFlush.stepLogits[i], `step ${i}`);
  assert.ok(maxAbsDiff(r.stepLogits[38], noFlush.stepLogits[38]) > 0);
});

test('value pruning: D - floor(rho D) channels by score, decode changes, nothing compressed -> nothing changes', () => {
  for (const [v, ref] of models) {
    const D = ref.config.headDim;
    const base = ref.greedy(prompt, 4, think);
    const r = ref.greedy(prompt, 4, think, { compression: { pruneValues: 0.5 } });
    assert.deepEqual(r.kept, base.kept, `${v}: value pruning leaves the key masks alone`);
    r.keptValueChannels!.forEach((layer, l) =>
      layer.forEach((kept, g) => {
        assert.equal(kept.length, D - Math.floor(0.5 * D));
        const s = r.valueScores![l][g];
        const worst = Math.min(...kept.map((j) => s[j]));
        for (let j = 0; j < D; j++) if (!kept.includes(j)) assert.ok(s[j] <= worst);
      }),
    );
    assert.deepEqual(r.stepLogits[0], base.stepLogits[0]);
    assert.ok(maxAbsDiff(r.stepLogits[1], base.stepLogits[1]) > 1e-6, `${v}: dropped value channels still read`);
    const none = ref.greedy(prompt, 4, { ...think, recent: N }, { compression: { pruneValues: 0.75 } });
    const noneBase = ref.greedy(prompt, 4, { ...think, recent: N });
    none.stepLogits.forEach((l, i) => assert.deepEqual(l, noneBase.stepLogits[i], `${v}: step ${i}`));
  }
});

test('value pruning with flush: flushed tokens take the head value mask too (one uniform compressed store)', () => {
  const ref = models.get('llama')!;
  const D = ref.config.headDim;
  const t: RefThink = { ratio: 0.5, window: 8, recent: 4, flush: 10 };
  const steps = 12;
  const r = ref.greedy(prompt.slice(0, 30), steps, t, { compression: { pruneValues: 0.5 } });
  const noFlush = ref.greedy(prompt.slice(0, 30), steps, { ...t, flush: 0 }, { compression: { pruneValues: 0.5 } });
  // The first flush follows decode step flush - recent + 1 = 7 and compresses 7 rows.
  for (let i = 0; i <= 7; i++) assert.deepEqual(r.stepLogits[i], noFlush.stepLogits[i], `step ${i}`);
  assert.ok(maxAbsDiff(r.stepLogits[8], noFlush.stepLogits[8]) > 0);
  assert.equal(r.compressedTokens, 26 + 7);
  // Bytes: every compressed row stores its kept key and value channels only.
  const { layers, kvHeads } = ref.config;
  const K = D / 2;
  const V = D / 2;
  const rows = 30 + steps - 1;
  const perHead = 33 * (K + V) * 4 + (rows - 33) * 2 * D * 4 + (K + V) * 8;
  assert.equal(r.bytes.total, layers * kvHeads * perHead);
});

test('value scores use the window mass of 32 positions without eviction, the eviction window with it', () => {
  const ref = models.get('llama')!;
  const a = ref.greedy(prompt, 1, think, { compression: { pruneValues: 0.25 } });
  const G = ref.config.queryHeads / ref.config.kvHeads;
  const sum = (x: number[]) => x.reduce((s, y) => s + y, 0);
  assert.ok(Math.abs(sum(a.windowMass![0][0]) - 32 * G) < 1e-9);
  const b = ref.greedy(prompt, 1, think, { compression: { pruneValues: 0.25, evict: snap(1000, 12) } });
  assert.ok(Math.abs(sum(b.windowMass![0][0]) - 12 * G) < 1e-9);
});

test('composition: eviction then ThinK over the survivors (key squares of kept tokens only)', () => {
  const ref = models.get('qwen2')!;
  const r = ref.greedy(prompt, 3, think, { compression: { evict: snap(20), kvBits: 2, pruneValues: 0.5 } });
  // Every head: 36 survivors, 28 compressed (recent 8), none quantized (short of 32).
  assert.equal(r.compressedTokens, 36 - 8);
  assert.equal(r.quantizedTokens, 0);
  const plain = ref.greedy(prompt, 3, think);
  assert.notDeepEqual(r.scores, plain.scores, 'ThinK scored evicted keys too');
  const bigger = ref.greedy(prompt, 3, think, { compression: { evict: snap(40), kvBits: 2 } });
  assert.equal(bigger.compressedTokens, 56 - 8);
  assert.equal(bigger.quantizedTokens, 32);
});

test('bytes: unpruned float32 count, and ThinK 0.5 + KIVI 2-bit exact on a long prompt', () => {
  const ref = models.get('llama')!;
  const { layers, kvHeads, headDim: D } = ref.config;
  const plain = ref.greedy(prompt, 1, noPrune);
  // K and V float32 for every token, plus D int64 key indices per head.
  assert.equal(plain.bytes.total, layers * kvHeads * (N * D * 2 * 4 + D * 8));
  assert.equal(plain.bytes.fp16FullPerToken, layers * kvHeads * D * 4);
  const long = Array.from({ length: 200 }, (_, i) => (i * 29 + 5) % 250 + 3);
  const r = ref.greedy(long, 1, { ratio: 0.5, window: 8, recent: 8, flush: 0 }, { compression: { kvBits: 2 } });
  // 192 compressed = 6 groups: keys 8 kept channels -> 2 bytes of codes + 8 x 4 bytes of
  // params per group; values 16 channels -> 4 bytes + 1 group x 4 bytes; 8 recent float32 rows.
  const perHead = 192 * (2 + 4 + 4) + 6 * 8 * 4 + 8 * D * 2 * 4 + 8 * 8;
  assert.equal(r.bytes.total, layers * kvHeads * perHead);
  // At D = 16 a value row's float16 scale and minimum cost as much as its codes, so 1/4 of fp16.
  assert.equal(r.bytes.perToken, 0.25 * r.bytes.fp16FullPerToken);
});

test('teacher forcing: forcing the greedy ids reproduces greedy; other ids change later logits only', () => {
  const ref = models.get('mistral')!;
  const g = ref.greedy(prompt, 5, think);
  const f = ref.greedy(prompt, 5, think, { forceIds: g.ids });
  assert.deepEqual(f.ids, g.ids);
  f.stepLogits.forEach((l, i) => assert.deepEqual(l, g.stepLogits[i]));
  const other = g.ids.map((id) => (id + 1) % 256);
  const o = ref.greedy(prompt, 5, think, { forceIds: other });
  assert.deepEqual(o.ids, other);
  assert.deepEqual(o.stepLogits[0], g.stepLogits[0]);
  assert.ok(maxAbsDiff(o.stepLogits[1], g.stepLogits[1]) > 1e-6);
  assert.throws(() => ref.greedy(prompt, 5, think, { forceIds: [1, 2] }), /2 forced ids for 5 steps/);
});

test('bad compression settings fail with clear messages', () => {
  const ref = models.get('llama')!;
  assert.throws(() => ref.greedy(prompt, 1, null, { compression: { kvBits: 2 } }), /kvBits and pruneValues need ThinK settings/);
  assert.throws(() => ref.greedy(prompt, 1, think, { compression: { kvBits: 3 as 2 } }), /kvBits 3 is not 2 or 4/);
  assert.throws(() => ref.greedy(prompt, 1, think, { compression: { pruneValues: 1 } }), /pruneValues 1 outside/);
  assert.throws(() => ref.greedy(prompt, 1, think, { compression: { evict: { ...snap(4), kernel: 6 } } }), /kernel 6 must be a positive odd/);
  assert.throws(() => ref.greedy(prompt, 1, think, { compression: { evict: { ...snap(4), method: 'lru' as 'h2o' } } }), /method lru/);
});
