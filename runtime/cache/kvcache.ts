// The KV cache, per layer and KV head, in preallocated buffers that the graph reads as zero-copy
// prefix views. Tokens are kept in position order, oldest first, in up to three tiers:
//
//   quantized [Tq]  KIVI codes of kept key channels (+ float16 scale/min per channel per 32 tokens)
//                   and of kept value channels (+ scale/min per channel group per token)
//   compact   [Tc]  float32 kept key channels [Tc, kept] (and, compressed layout, kept value channels)
//   full      [Tf]  float32 whole keys [Tf, D] and values [Tf, D]
//
// The plain ThinK layout has no quantized tier and keeps every value in one [T, D] buffer (values
// never move). The compressed layout (eviction, value pruning, KIVI) moves values with their keys.
// Bytes are what the buffers' live prefixes really hold, counted with the one byte formula
// (core/cacheBytes.ts) that memory-budget mode and the extension project with.
import { Tensor } from 'onnxruntime-node';
import { FLOAT32_BYTES, headBytes, unprunedBytes } from '../../core/cacheBytes';
import { KEY_GROUP, rowBytes, valueGroup, type KvBits } from '../../core/kiviLayout';
import type { CacheStats } from '../../core/protocol/rpc';
import { cacheInput } from '../graph/attention';
import { quantizeKeyGroup, quantizeValueRow } from './kivi';
import type { PrunableCache } from './think';

type Grow = Float32Array | Uint8Array | Uint16Array;

let versions = 0;
let caches = 0;

export interface CacheLayout {
  /** Values move with keys into compact/quantized tiers (needed by value pruning and KIVI). */
  compressed: boolean;
  /** KIVI bits for compact tokens (compressed layout only). */
  bits: KvBits | null;
}

export class HeadCache {
  /** Key channels kept for compressed tokens, ascending; identity (all D) before any pruning. */
  kept: number;
  index: BigInt64Array;
  /** Channel scores that chose `index` (for the inspector); null before pruning. */
  scores: Float64Array | null = null;
  /** Value channels kept for compressed tokens (compressed layout). */
  valueKept: number;
  valueIndex: Int32Array;
  /** [valueKept, D] one-hot: compact values back to their channels. */
  valueSelect: Float32Array;
  compactKeys: Float32Array = new Float32Array(0);
  fullKeys: Float32Array;
  /** Plain layout: every token's values [T, D]. Compressed layout: the full tier's [Tf, D]. */
  values: Float32Array;
  compactValues: Float32Array = new Float32Array(0);
  keyCodes = new Uint8Array(0);
  keyScales = new Uint16Array(0);
  keyMins = new Uint16Array(0);
  valueCodes = new Uint8Array(0);
  valueScales = new Uint16Array(0);
  valueMins = new Uint16Array(0);
  /** Prompt positions kept by token eviction (null: nothing evicted). */
  keptTokens: Int32Array | null = null;

  constructor(D: number, capacity: number) {
    this.kept = D;
    this.index = BigInt64Array.from({ length: D }, (_, j) => BigInt(j));
    this.valueKept = D;
    this.valueIndex = Int32Array.from({ length: D }, (_, j) => j);
    this.valueSelect = oneHot(this.valueIndex, D);
    this.fullKeys = new Float32Array(capacity * D);
    this.values = new Float32Array(capacity * D);
  }

  keptChannels(): number[] {
    return Array.from(this.index, Number);
  }

  /** A deep copy: every buffer duplicated, so neither copy sees the other's appends or prunes. */
  clone(): HeadCache {
    const c = new HeadCache(0, 0);
    for (const [k, v] of Object.entries(this)) Reflect.set(c, k, ArrayBuffer.isView(v) ? (v as Float32Array).slice() : v);
    return c;
  }
}

export class KvCache implements PrunableCache {
  /** [layer][kvHead] */
  readonly heads: HeadCache[][];
  quantized = 0;
  compact = 0;
  full = 0;
  /** RoPE position of the next token (evicted tokens still count). */
  position = 0;
  evicted = 0;
  /** True once ThinK (or compression) chose masks. */
  masked = false;
  /**
   * Changes whenever anything but the full tier changes (masks, prune, flush): a copy of the other
   * tiers kept elsewhere (the GPU's, see residentTiers.ts) is stale once this moves. Drawn from
   * one sequence for all caches, so a fresh cache never matches an old one's copy.
   */
  version = ++versions;
  /** Tells caches apart (a GPU copy's figures are per cache). */
  readonly id = ++caches;

  constructor(
    readonly layers: number,
    readonly kvHeads: number,
    readonly D: number,
    capacity: number,
    readonly layout: CacheLayout = { compressed: false, bits: null },
  ) {
    this.heads = Array.from({ length: layers }, () => Array.from({ length: kvHeads }, () => new HeadCache(D, capacity)));
  }

  /**
   * An independent copy of every tier, mask and counter, with its own id and version (a GPU copy
   * of this cache is not one of the clone's). Lets one prefill be decoded under two settings.
   */
  clone(): KvCache {
    const c = new KvCache(this.layers, this.kvHeads, this.D, 0, { ...this.layout });
    c.heads.forEach((layer, l) => layer.forEach((_, kv) => (layer[kv] = this.heads[l][kv].clone())));
    Object.assign(c, { quantized: this.quantized, compact: this.compact, full: this.full, position: this.position, evicted: this.evicted, masked: this.masked });
    return c;
  }

  get pruned(): number {
    return this.quantized + this.compact;
  }

  get tokens(): number {
    return this.pruned + this.full;
  }

  /** Makes room for `more` tokens: grows buffers geometrically (one copy), never per step. */
  reserve(more: number): void {
    const { D } = this;
    const valueRows = this.layout.compressed ? this.full : this.tokens;
    for (const layer of this.heads)
      for (const h of layer) {
        h.fullKeys = ensure(h.fullKeys, (this.full + more) * D, this.full * D);
        h.values = ensure(h.values, (valueRows + more) * D, valueRows * D);
      }
  }

  /** Appends S new tokens of layer l from the graph's outputs k, v: [S, Hkv, D]. Call commit(S) after all layers. */
  append(l: number, k: Float32Array, v: Float32Array, S: number): void {
    const { D, kvHeads } = this;
    const valueRow = this.layout.compressed ? this.full : this.tokens;
    this.heads[l].forEach((h, kv) => {
      for (let s = 0; s < S; s++) {
        const src = (s * kvHeads + kv) * D;
        h.fullKeys.set(k.subarray(src, src + D), (this.full + s) * D);
        h.values.set(v.subarray(src, src + D), (valueRow + s) * D);
      }
    });
  }

  commit(S: number): void {
    this.full += S;
    this.position += S;
  }

  keysOf(l: number, kv: number): Float32Array {
    return this.heads[l][kv].fullKeys;
  }

  /** Values [rows, D] of the full tier, oldest first (value scores read them before pruning). */
  fullValuesOf(l: number, kv: number): Float32Array {
    const h = this.heads[l][kv];
    return this.layout.compressed ? h.values : h.values.subarray(this.pruned * this.D);
  }

  /** Sets layer l, head kv's key mask (ascending channel indices) before pruning with it. */
  setMask(l: number, kv: number, channels: Int32Array, scores: Float64Array): void {
    if (this.pruned > 0) throw new Error('KvCache: a mask cannot change once tokens are pruned with it');
    const h = this.heads[l][kv];
    h.kept = channels.length;
    h.index = BigInt64Array.from(channels, (j) => BigInt(j));
    h.scores = scores;
    this.masked = true;
    this.version = ++versions;
  }

  /** Sets layer l, head kv's value-channel mask (compressed layout). */
  setValueMask(l: number, kv: number, channels: Int32Array): void {
    if (!this.layout.compressed) throw new Error('KvCache: value pruning needs the compressed layout');
    if (this.pruned > 0) throw new Error('KvCache: a mask cannot change once tokens are pruned with it');
    const h = this.heads[l][kv];
    h.valueKept = channels.length;
    h.valueIndex = Int32Array.from(channels);
    h.valueSelect = oneHot(h.valueIndex, this.D);
    this.masked = true;
    this.version = ++versions;
  }

  /**
   * Keeps only the given full-tier rows (ascending) of layer l, head kv: evicted tokens leave.
   * Every head must keep as many rows; call settleEviction(kept) after all heads.
   */
  evict(l: number, kv: number, rows: Int32Array): void {
    if (this.pruned > 0) throw new Error('KvCache: eviction happens before any token is compressed');
    const { D } = this;
    const h = this.heads[l][kv];
    h.keptTokens = rows.slice();
    rows.forEach((row, i) => {
      h.fullKeys.copyWithin(i * D, row * D, (row + 1) * D);
      h.values.copyWithin(i * D, row * D, (row + 1) * D);
    });
  }

  settleEviction(kept: number): void {
    this.evicted += this.full - kept;
    this.full = kept;
  }

  /**
   * Moves the oldest `count` full tokens to the compact tier, keeping each head's kept channels,
   * then (KIVI) quantizes every whole group of 32 compact tokens. `spare` extra compact slots are
   * reserved so later flushes do not reallocate. Layer by layer, so the transient extra memory is
   * one layer's worth.
   */
  prune(count: number, spare = 0): void {
    if (count <= 0) return;
    if (count > this.full) throw new Error(`KvCache: cannot prune ${count} of ${this.full} full-key tokens`);
    const { D } = this;
    const { compressed, bits } = this.layout;
    const remaining = this.full - count;
    const groups = bits ? Math.floor((this.compact + count) / KEY_GROUP) : 0;
    for (const layer of this.heads)
      for (const h of layer) {
        h.compactKeys = ensure(h.compactKeys, (this.compact + count + spare) * h.kept, this.compact * h.kept);
        gatherRows(h.fullKeys, D, count, h.index, h.compactKeys, this.compact * h.kept);
        h.fullKeys.copyWithin(0, count * D, this.full * D);
        h.fullKeys = shrink(h.fullKeys, (remaining + spare) * D);
        if (compressed) {
          h.compactValues = ensure(h.compactValues, (this.compact + count + spare) * h.valueKept, this.compact * h.valueKept);
          gatherRows(h.values, D, count, h.valueIndex, h.compactValues, this.compact * h.valueKept);
          h.values.copyWithin(0, count * D, this.full * D);
          h.values = shrink(h.values, (remaining + spare) * D);
        }
        if (groups > 0) this.quantizeGroups(h, groups, this.compact + count, spare);
      }
    this.full = remaining;
    this.compact += count - groups * KEY_GROUP;
    this.quantized += groups * KEY_GROUP;
    this.version = ++versions;
  }

  /** KIVI: the oldest `groups` x 32 of one head's `compactRows` compact tokens become codes. */
  private quantizeGroups(h: HeadCache, groups: number, compactRows: number, spare: number): void {
    const bits = this.layout.bits!;
    const rows = groups * KEY_GROUP;
    const { kept, valueKept: vk } = h;
    const kRow = rowBytes(kept, bits);
    const vRow = rowBytes(vk, bits);
    const vGroups = vk / valueGroup(vk);
    const q = this.quantized;
    h.keyCodes = ensure(h.keyCodes, (q + rows) * kRow, q * kRow);
    h.keyScales = ensure(h.keyScales, ((q + rows) / KEY_GROUP) * kept, (q / KEY_GROUP) * kept);
    h.keyMins = ensure(h.keyMins, ((q + rows) / KEY_GROUP) * kept, (q / KEY_GROUP) * kept);
    h.valueCodes = ensure(h.valueCodes, (q + rows) * vRow, q * vRow);
    h.valueScales = ensure(h.valueScales, (q + rows) * vGroups, q * vGroups);
    h.valueMins = ensure(h.valueMins, (q + rows) * vGroups, q * vGroups);
    for (let gi = 0; gi < groups; gi++) {
      const g = q / KEY_GROUP + gi;
      quantizeKeyGroup(h.compactKeys, gi * KEY_GROUP * kept, kept, bits, h.keyCodes, g * KEY_GROUP * kRow, h.keyScales, h.keyMins, g * kept);
    }
    for (let t = 0; t < rows; t++)
      quantizeValueRow(h.compactValues, t * vk, vk, bits, h.valueCodes, (q + t) * vRow, h.valueScales, h.valueMins, (q + t) * vGroups);
    h.compactKeys.copyWithin(0, rows * kept, compactRows * kept);
    h.compactValues.copyWithin(0, rows * vk, compactRows * vk);
    // What stays float32 is less than a group plus later flushes: release the prompt-sized buffers.
    const keepRows = compactRows - rows + KEY_GROUP + spare;
    h.compactKeys = shrink(h.compactKeys, keepRows * kept);
    h.compactValues = shrink(h.compactValues, keepRows * vk);
  }

  /** The graph's cache inputs: zero-copy prefix views of every head's buffers. */
  feeds(): Record<string, Tensor> {
    const f: Record<string, Tensor> = {};
    const { D, quantized: Tq, compact: Tc, full: Tf } = this;
    const bits = this.layout.bits ?? 8;
    this.heads.forEach((layer, l) =>
      layer.forEach((h, kv) => {
        const n = (name: (l: number, h: number) => string) => name(l, kv);
        f[n(cacheInput.prunedKeys)] = new Tensor('float32', h.compactKeys.subarray(0, Tc * h.kept), [Tc, h.kept]);
        f[n(cacheInput.keptIndex)] = new Tensor('int64', h.index, [h.kept]);
        f[n(cacheInput.fullKeys)] = new Tensor('float32', h.fullKeys.subarray(0, Tf * D), [Tf, D]);
        if (!this.layout.compressed) {
          f[n(cacheInput.values)] = new Tensor('float32', h.values.subarray(0, (Tc + Tf) * D), [Tc + Tf, D]);
          return;
        }
        const kRow = rowBytes(h.kept, bits);
        const vRow = rowBytes(h.valueKept, bits);
        const vGroups = h.valueKept / valueGroup(h.valueKept);
        f[n(cacheInput.values)] = new Tensor('float32', h.values.subarray(0, Tf * D), [Tf, D]);
        f[n(cacheInput.compactValues)] = new Tensor('float32', h.compactValues.subarray(0, Tc * h.valueKept), [Tc, h.valueKept]);
        f[n(cacheInput.valueSelect)] = new Tensor('float32', h.valueSelect, [h.valueKept, D]);
        if (this.layout.bits === null) return; // no KIVI tier in the graph either
        f[n(cacheInput.keyCodes)] = new Tensor('uint8', h.keyCodes.subarray(0, Tq * kRow), [Tq, kRow]);
        f[n(cacheInput.keyScales)] = new Tensor('float16', h.keyScales.subarray(0, (Tq / KEY_GROUP) * h.kept), [Tq / KEY_GROUP, h.kept]);
        f[n(cacheInput.keyMins)] = new Tensor('float16', h.keyMins.subarray(0, (Tq / KEY_GROUP) * h.kept), [Tq / KEY_GROUP, h.kept]);
        f[n(cacheInput.valueCodes)] = new Tensor('uint8', h.valueCodes.subarray(0, Tq * vRow), [Tq, vRow]);
        f[n(cacheInput.valueScales)] = new Tensor('float16', h.valueScales.subarray(0, Tq * vGroups), [Tq, vGroups]);
        f[n(cacheInput.valueMins)] = new Tensor('float16', h.valueMins.subarray(0, Tq * vGroups), [Tq, vGroups]);
      }),
    );
    if (this.layout.bits !== null) {
      const per = 8 / bits;
      f.kv_shift = new Tensor('uint8', Uint8Array.from({ length: per }, (_, i) => i * bits), [per]);
      f.kv_mask = new Tensor('uint8', Uint8Array.of((1 << bits) - 1), []);
    }
    return f;
  }

  stats(): CacheStats {
    const { D, quantized: Tq, compact: Tc, full: Tf, layers, kvHeads } = this;
    const tiers = { quantized: Tq, compact: Tc, full: Tf };
    let keyBytes = 0;
    let valueBytes = 0;
    let indexBytes = 0;
    let allocated = 0;
    let keptSum = 0;
    for (const layer of this.heads)
      for (const h of layer) {
        keptSum += h.kept;
        // Plain layout: valueKept stays D (value masks need the compressed layout), as the formula expects.
        const bytes = headBytes(tiers, { headDim: D, keptKeys: h.kept, keptValues: h.valueKept }, this.layout.bits, FLOAT32_BYTES);
        keyBytes += bytes.keys;
        valueBytes += bytes.values;
        indexBytes += bytes.indices;
        for (const b of [h.compactKeys, h.fullKeys, h.values, h.compactValues, h.keyCodes, h.keyScales, h.keyMins, h.valueCodes, h.valueScales, h.valueMins]) allocated += b.byteLength;
      }
    const heads = layers * kvHeads;
    const tokens = Tq + Tc + Tf;
    // The yardstick CacheStats compares against: one token of an unpruned float16 cache.
    const fp16 = unprunedBytes(1, D, 2);
    return {
      tokens,
      prunedTokens: Tq + Tc,
      fullTokens: Tf,
      keyBytes,
      valueBytes,
      fullKeyBytes: heads * unprunedBytes(tokens, D).keys,
      pruneRatio: this.masked ? 1 - keptSum / (heads * D) : 0,
      bytesPerElement: FLOAT32_BYTES,
      allocatedBytes: allocated,
      bytesPerToken: tokens ? (keyBytes + valueBytes + indexBytes) / tokens : 0,
      fp16FullBytesPerToken: heads * (fp16.keys + fp16.values),
      evictedTokens: this.evicted,
      quantizedTokens: Tq,
    };
  }
}

/** rows [0, count) of src [*, D], channels `index`, into dst at `at` (row-major [count, index.length]). */
function gatherRows(src: Float32Array, D: number, count: number, index: ArrayLike<number | bigint>, dst: Float32Array, at: number): void {
  const channels = Array.from(index, Number);
  for (let t = 0; t < count; t++) {
    const row = t * D;
    for (const j of channels) dst[at++] = src[row + j];
  }
}

function oneHot(index: Int32Array, D: number): Float32Array {
  const m = new Float32Array(index.length * D);
  index.forEach((j, i) => (m[i * D + j] = 1));
  return m;
}

/** `a` with room for `min` elements, keeping its first `live` (geometric growth: one copy). */
function ensure<T extends Grow>(a: T, min: number, live: number): T {
  if (a.length >= min) return a;
  const next = new (a.constructor as new (n: number) => T)(Math.max(min, Math.ceil(a.length * 1.5)));
  next.set(a.subarray(0, live) as never);
  return next;
}

/** Drops a prefill-sized buffer once what remains fits a much smaller one. */
function shrink(a: Float32Array, keep: number): Float32Array {
  const n = Math.max(keep, 1);
  return a.length > 4 * n ? a.slice(0, n) : a;
}
