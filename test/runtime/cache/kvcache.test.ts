// KvCache: head-major tiers that stay what a per-head cache would hold through appends, eviction,
// pruning and flushes; clone, a deep copy that decodes on its own (the benchmark prunes a clone of one prefill).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor } from 'onnxruntime-node';
import { KvCache, toFloat32, type CacheLayout, type Floats } from '../../../runtime/cache/kvcache';
import { floatToHalf } from '../../../runtime/model/safetensors';

const D = 8;

/** A 2-layer, 2-head cache holding `n` tokens of distinct values. */
function filled(n: number, layout: CacheLayout): KvCache {
  const c = new KvCache(2, 2, D, n + 8, layout);
  for (let l = 0; l < 2; l++) {
    const k = Float32Array.from({ length: n * 2 * D }, (_, i) => l * 1000 + i);
    c.append(l, toPrecision(layout, k), toPrecision(layout, k.map((x) => -x)), n);
  }
  c.commit(n);
  return c;
}

/** Graph outputs arrive in the cache's precision. */
function toPrecision(layout: CacheLayout, x: Float32Array): Floats {
  return layout.precision === 'float16' ? Uint16Array.from(x, floatToHalf) : x;
}

function floats(layout: CacheLayout, n: number, value: number): Floats {
  return toPrecision(layout, new Float32Array(n).fill(value));
}

function data(feeds: Record<string, Tensor>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, Array.from(t.data as ArrayLike<number | bigint>, Number)]));
}

for (const layout of [
  { compressed: false, bits: null, precision: 'float32' },
  { compressed: true, bits: 4, precision: 'float32' },
  { compressed: false, bits: null, precision: 'float16' },
] as CacheLayout[]) {
  test(`clone copies every tier and counter, then neither copy sees the other's changes (${layout.compressed ? 'compressed, KIVI 4-bit' : 'plain'}, ${layout.precision})`, () => {
    const a = filled(80, layout);
    for (let l = 0; l < 2; l++) for (let kv = 0; kv < 2; kv++) a.setMask(l, kv, Int32Array.from([1, 3, 4, 6]), new Float64Array(D).fill(kv));
    a.prune(70);
    const before = data(a.feeds());
    const b = a.clone();
    assert.deepEqual(data(b.feeds()), before, 'same feeds');
    assert.deepEqual(b.stats(), a.stats(), 'same stats');
    assert.deepEqual([b.quantized, b.compact, b.full, b.position, b.masked], [a.quantized, a.compact, a.full, a.position, a.masked]);
    assert.deepEqual(Array.from(b.layerCaches[1].heads[1].keys), [1, 3, 4, 6]);
    for (const [name, v] of Object.entries(a.layerCaches[0]))
      if (ArrayBuffer.isView(v)) assert.notEqual(Reflect.get(b.layerCaches[0], name).buffer, v.buffer, `${name} is copied, not shared`);
    assert.notEqual(b.layerCaches[0].heads[0], a.layerCaches[0].heads[0], 'masks are copied, not shared');
    assert.notEqual(b.id, a.id);
    assert.notEqual(b.version, a.version);

    // Appending to and pruning the clone leaves the original as it was, and the other way round.
    for (let l = 0; l < 2; l++) b.append(l, floats(layout, 2 * D, 7), floats(layout, 2 * D, 7), 1);
    b.commit(1);
    b.prune(b.full - 2);
    assert.deepEqual(data(a.feeds()), before, 'original unchanged by the clone');
    const cloned = data(b.feeds());
    for (let l = 0; l < 2; l++) a.append(l, floats(layout, 2 * D, 9), floats(layout, 2 * D, 9), 1);
    a.commit(1);
    a.prune(3);
    assert.deepEqual(data(b.feeds()), cloned, 'clone unchanged by the original');
    assert.equal(b.position, 81);
  });
}

/**
 * The same operations on a per-head model (one array of rows per head and tier) and on the cache:
 * the cache's [Hkv, 1, T, c] feeds, read head by head, must be what each head holds. Distinct
 * values per layer, head, token and channel catch any row that lands in another head's block.
 */
for (const precision of ['float32', 'float16'] as const)
  test(`head-major tiers hold each head's rows through appends, eviction, pruning and flushes (${precision})`, () => {
    const L = 2;
    const H = 3;
    const layout: CacheLayout = { compressed: true, bits: null, precision };
    const cache = new KvCache(L, H, D, 4, layout);
    type Head = { fullK: number[][]; fullV: number[][]; compK: number[][]; compV: number[][] };
    const model: Head[][] = Array.from({ length: L }, () => Array.from({ length: H }, () => ({ fullK: [], fullV: [], compK: [], compV: [] })));
    let next = 0;
    // Small integers: exact in float16 too.
    const append = (S: number) => {
      for (let l = 0; l < L; l++) {
        const k = new Float32Array(S * H * D);
        const v = new Float32Array(S * H * D);
        for (let s = 0; s < S; s++)
          for (let h = 0; h < H; h++) {
            const row = Array.from({ length: D }, (_, j) => ((next + s) % 50) * 16 + h * 4 + (j % 4) + l * 1000);
            k.set(row, (s * H + h) * D);
            v.set(row.map((x) => -x), (s * H + h) * D);
            model[l][h].fullK.push(row);
            model[l][h].fullV.push(row.map((x) => -x));
          }
        cache.append(l, toPrecision(layout, k), toPrecision(layout, v), S);
      }
      next += S;
      cache.commit(S);
    };
    const check = (when: string) => {
      const f = cache.feeds();
      const rows = (name: string, h: number, T: number, c: number) => {
        const t = f[name];
        assert.deepEqual(t.dims, [H, 1, T, c], `${name} dims ${when}`);
        const all = precision === 'float16' ? toFloat32(t.data as Uint16Array) : (t.data as Float32Array);
        return Array.from({ length: T }, (_, r) => Array.from(all.subarray((h * T + r) * c, (h * T + r + 1) * c)));
      };
      for (let l = 0; l < L; l++)
        for (let h = 0; h < H; h++) {
          const m = model[l][h];
          const kept = cache.layerCaches[l].kept;
          const keptV = cache.layerCaches[l].valueKept;
          assert.deepEqual(rows(`kf.${l}`, h, cache.full, D), m.fullK, `layer ${l} head ${h} full keys ${when}`);
          assert.deepEqual(rows(`vf.${l}`, h, cache.full, D), m.fullV, `layer ${l} head ${h} full values ${when}`);
          assert.deepEqual(rows(`kp.${l}`, h, cache.compact, kept), m.compK, `layer ${l} head ${h} compact keys ${when}`);
          assert.deepEqual(rows(`vc.${l}`, h, cache.compact, keptV), m.compV, `layer ${l} head ${h} compact values ${when}`);
          assert.deepEqual(Array.from(cache.keysOf(l, h)), m.fullK.flat(), `keysOf ${when}`);
        }
    };
    append(7);
    append(5); // a second prefill chunk: every head's block moves
    check('after two chunks');
    // Eviction: each head keeps its own rows.
    const keep = (h: number) => Int32Array.from([0, 2 + h, 5, 6 + h, 9, 11]);
    for (let l = 0; l < L; l++) {
      cache.evict(l, [0, 1, 2].map(keep));
      for (let h = 0; h < H; h++) {
        const m = model[l][h];
        m.fullK = Array.from(keep(h), (r) => m.fullK[r]);
        m.fullV = Array.from(keep(h), (r) => m.fullV[r]);
      }
    }
    cache.settleEviction(6);
    check('after eviction');
    // Masks per head (the same count per layer), then the oldest 4 move to the compact tier.
    const keys = (l: number, h: number) => Int32Array.from([(h + l) % D, 3, 5, 7].sort((a, b) => a - b));
    const values = (h: number) => Int32Array.from([0, 1 + h, 6]);
    for (let l = 0; l < L; l++)
      for (let h = 0; h < H; h++) {
        cache.setMask(l, h, keys(l, h), new Float64Array(D));
        cache.setValueMask(l, h, values(h));
      }
    const move = (count: number) => {
      cache.prune(count);
      for (let l = 0; l < L; l++)
        for (let h = 0; h < H; h++) {
          const m = model[l][h];
          for (const row of m.fullK.splice(0, count)) m.compK.push(Array.from(keys(l, h), (j) => row[j]));
          for (const row of m.fullV.splice(0, count)) m.compV.push(Array.from(values(h), (j) => row[j]));
        }
    };
    move(4);
    check('after pruning');
    for (let i = 0; i < 6; i++) append(1); // decode steps: the full tier grows, the compact one stays
    check('after decode steps');
    move(cache.full - 2); // a flush
    check('after a flush');
    append(3);
    check('after more steps');
    assert.deepEqual([cache.compact, cache.full, cache.position, cache.evicted], [4 + 6, 2 + 3, 12 + 6 + 3, 6]);
  });
