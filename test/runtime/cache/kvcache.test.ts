// KvCache.clone: a deep copy that decodes on its own (the benchmark prunes a clone of one prefill).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor } from 'onnxruntime-node';
import { KvCache, type CacheLayout } from '../../../runtime/cache/kvcache';

const D = 8;

/** A 2-layer, 2-head cache holding `n` tokens of distinct values. */
function filled(n: number, layout: CacheLayout): KvCache {
  const c = new KvCache(2, 2, D, n + 8, layout);
  c.reserve(n);
  for (let l = 0; l < 2; l++) {
    const k = Float32Array.from({ length: n * 2 * D }, (_, i) => l * 1000 + i);
    c.append(l, k, k.map((x) => -x), n);
  }
  c.commit(n);
  return c;
}

function data(feeds: Record<string, Tensor>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, Array.from(t.data as ArrayLike<number | bigint>, Number)]));
}

for (const layout of [{ compressed: false, bits: null }, { compressed: true, bits: 4 }] as CacheLayout[]) {
  test(`clone copies every tier and counter, then neither copy sees the other's changes (${layout.compressed ? 'compressed, KIVI 4-bit' : 'plain'})`, () => {
    const a = filled(80, layout);
    a.heads.forEach((layer, l) => layer.forEach((_, kv) => a.setMask(l, kv, Int32Array.from([1, 3, 4, 6]), new Float64Array(D).fill(kv))));
    a.prune(70);
    const before = data(a.feeds());
    const b = a.clone();
    assert.deepEqual(data(b.feeds()), before, 'same feeds');
    assert.deepEqual(b.stats(), a.stats(), 'same stats');
    assert.deepEqual([b.quantized, b.compact, b.full, b.position, b.masked], [a.quantized, a.compact, a.full, a.position, a.masked]);
    assert.deepEqual(b.heads[1][1].keptChannels(), [1, 3, 4, 6]);
    for (const [name, v] of Object.entries(a.heads[0][1]))
      if (ArrayBuffer.isView(v)) assert.notEqual(Reflect.get(b.heads[0][1], name).buffer, v.buffer, `${name} is copied, not shared`);
    assert.notEqual(b.id, a.id);
    assert.notEqual(b.version, a.version);

    // Appending to and pruning the clone leaves the original as it was, and the other way round.
    b.reserve(1);
    for (let l = 0; l < 2; l++) b.append(l, new Float32Array(2 * D).fill(7), new Float32Array(2 * D).fill(7), 1);
    b.commit(1);
    b.prune(b.full - 2);
    assert.deepEqual(data(a.feeds()), before, 'original unchanged by the clone');
    const cloned = data(b.feeds());
    a.reserve(1);
    for (let l = 0; l < 2; l++) a.append(l, new Float32Array(2 * D).fill(9), new Float32Array(2 * D).fill(9), 1);
    a.commit(1);
    a.prune(3);
    assert.deepEqual(data(b.feeds()), cloned, 'clone unchanged by the original');
    assert.equal(b.position, 81);
  });
}
