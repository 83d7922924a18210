// The KV cache, per layer and KV head, in preallocated float32 buffers that the graph reads as
// zero-copy prefix views. Tokens are kept in position order; the oldest `pruned` tokens store
// only their head's kept key channels, the newest `full` tokens store whole keys:
//
//   kp [Tp, kept]  compact pruned keys   ki [kept]  their channel indices (ascending)
//   kf [Tf, D]     full keys             v  [Tp + Tf, D]  values
//
// Pruning moves the oldest full keys into kp (gathering the kept channels) and shifts the rest of
// kf down; values never move. Bytes are what the buffers' live prefixes really hold.
import { Tensor } from 'onnxruntime-node';
import type { CacheStats } from '../src/protocol';
import { cacheInput } from './graph/model';
import type { PrunableCache } from './think';

const F32 = 4;

export class HeadCache {
  kept: number;
  /** Channel indices kept for pruned tokens, ascending; identity (all D) before any pruning. */
  index: BigInt64Array;
  /** Channel scores that chose `index` (for the inspector); null before pruning. */
  scores: Float64Array | null = null;
  prunedKeys: Float32Array;
  fullKeys: Float32Array;
  values: Float32Array;

  constructor(readonly D: number, fullCapacity: number, valueCapacity: number) {
    this.kept = D;
    this.index = BigInt64Array.from({ length: D }, (_, j) => BigInt(j));
    this.prunedKeys = new Float32Array(0);
    this.fullKeys = new Float32Array(fullCapacity * D);
    this.values = new Float32Array(valueCapacity * D);
  }

  keptChannels(): number[] {
    return Array.from(this.index, Number);
  }
}

export class KvCache implements PrunableCache {
  /** [layer][kvHead] */
  readonly heads: HeadCache[][];
  pruned = 0;
  full = 0;
  /** True once a ThinK mask was chosen (after the first prefill that pruned). */
  masked = false;

  constructor(readonly layers: number, readonly kvHeads: number, readonly D: number, capacity: number) {
    this.heads = Array.from({ length: layers }, () => Array.from({ length: kvHeads }, () => new HeadCache(D, capacity, capacity)));
  }

  get tokens(): number {
    return this.pruned + this.full;
  }

  /** Makes room for `more` tokens: grows buffers geometrically (one copy), never per step. */
  reserve(more: number): void {
    const needFull = this.full + more;
    const needTokens = this.tokens + more;
    for (const layer of this.heads)
      for (const h of layer) {
        if (h.fullKeys.length < needFull * this.D) h.fullKeys = grow(h.fullKeys, needFull * this.D, this.full * this.D);
        if (h.values.length < needTokens * this.D) h.values = grow(h.values, needTokens * this.D, this.tokens * this.D);
      }
  }

  /** Appends S new tokens of layer l from the graph's outputs k, v: [S, Hkv, D]. Call commit(S) after all layers. */
  append(l: number, k: Float32Array, v: Float32Array, S: number): void {
    const { D, kvHeads } = this;
    this.heads[l].forEach((h, kv) => {
      for (let s = 0; s < S; s++) {
        const src = (s * kvHeads + kv) * D;
        h.fullKeys.set(k.subarray(src, src + D), (this.full + s) * D);
        h.values.set(v.subarray(src, src + D), (this.tokens + s) * D);
      }
    });
  }

  commit(S: number): void {
    this.full += S;
  }

  keysOf(l: number, kv: number): Float32Array {
    return this.heads[l][kv].fullKeys;
  }

  /** Sets layer l, head kv's mask (ascending channel indices) before pruning with it. */
  setMask(l: number, kv: number, channels: Int32Array, scores: Float64Array): void {
    const h = this.heads[l][kv];
    if (this.pruned > 0) throw new Error('KvCache: a mask cannot change once tokens are pruned with it');
    h.kept = channels.length;
    h.index = BigInt64Array.from(channels, (j) => BigInt(j));
    h.scores = scores;
    this.masked = true;
  }

  /**
   * Moves the oldest `count` full-key tokens to the compact pruned store, keeping only each head's
   * kept channels. `spare` extra pruned slots are reserved so later flushes do not reallocate.
   * Layer by layer, so the transient extra memory is one layer's worth.
   */
  prune(count: number, spare = 0): void {
    if (count <= 0) return;
    if (count > this.full) throw new Error(`KvCache: cannot prune ${count} of ${this.full} full-key tokens`);
    const { D } = this;
    const remaining = this.full - count;
    for (const layer of this.heads)
      for (const h of layer) {
        const need = (this.pruned + count) * h.kept;
        if (h.prunedKeys.length < need) h.prunedKeys = grow(h.prunedKeys, need + spare * h.kept, this.pruned * h.kept);
        const channels = Array.from(h.index, Number);
        let dst = this.pruned * h.kept;
        for (let t = 0; t < count; t++) {
          const row = t * D;
          for (const j of channels) h.prunedKeys[dst++] = h.fullKeys[row + j];
        }
        h.fullKeys.copyWithin(0, count * D, this.full * D);
        // Drop the big prefill-sized full-key buffer once the remainder fits a much smaller one.
        const keep = Math.max(remaining + spare, 1) * D;
        if (h.fullKeys.length > 4 * keep) h.fullKeys = h.fullKeys.slice(0, keep);
      }
    this.pruned += count;
    this.full = remaining;
  }

  /** The graph's cache inputs: zero-copy prefix views of every head's buffers. */
  feeds(): Record<string, Tensor> {
    const f: Record<string, Tensor> = {};
    const { D, pruned, full } = this;
    this.heads.forEach((layer, l) =>
      layer.forEach((h, kv) => {
        f[cacheInput.prunedKeys(l, kv)] = new Tensor('float32', h.prunedKeys.subarray(0, pruned * h.kept), [pruned, h.kept]);
        f[cacheInput.keptIndex(l, kv)] = new Tensor('int64', h.index, [h.kept]);
        f[cacheInput.fullKeys(l, kv)] = new Tensor('float32', h.fullKeys.subarray(0, full * D), [full, D]);
        f[cacheInput.values(l, kv)] = new Tensor('float32', h.values.subarray(0, (pruned + full) * D), [pruned + full, D]);
      }),
    );
    return f;
  }

  stats(): CacheStats {
    const { D, pruned, full, layers, kvHeads } = this;
    let keyElems = 0;
    let allocated = 0;
    let keptSum = 0;
    for (const layer of this.heads)
      for (const h of layer) {
        keyElems += pruned * h.kept + full * D;
        keptSum += h.kept;
        allocated += (h.prunedKeys.length + h.fullKeys.length + h.values.length) * F32 + h.index.length * 8;
      }
    const heads = layers * kvHeads;
    return {
      tokens: pruned + full,
      prunedTokens: pruned,
      fullTokens: full,
      keyBytes: keyElems * F32,
      valueBytes: heads * (pruned + full) * D * F32,
      fullKeyBytes: heads * (pruned + full) * D * F32,
      pruneRatio: this.masked ? 1 - keptSum / (heads * D) : 0,
      bytesPerElement: F32,
      allocatedBytes: allocated,
    };
  }
}

/** A bigger copy of `a` holding its first `live` elements. */
function grow(a: Float32Array, min: number, live: number): Float32Array {
  const next = new Float32Array(Math.max(min, Math.ceil(a.length * 1.5)));
  next.set(a.subarray(0, live));
  return next;
}
