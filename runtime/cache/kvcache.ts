// The KV cache, per layer, in head-major blocks (headBlocks.ts) that the graph reads as zero-copy
// [Hkv, 1, T, c] views: one batched product per layer and tier. Tokens are kept in position order,
// oldest first, in up to three tiers, the same token counts for every head:
//
//   quantized [Tq]  KIVI codes of kept key channels (+ float16 scale/min per channel per 32 tokens)
//                   and of kept value channels (+ scale/min per channel group per token)
//   compact   [Tc]  kept key channels [Hkv, Tc, kept] and kept value channels [Hkv, Tc, keptV]
//   full      [Tf]  whole keys and values [Hkv, Tf, D]
//
// Float tiers hold float16 bits (the default) or float32 values (CachePrecision). After prefill
// every token but the newest `recent` leaves the full tier, at ratio 0 too (keeping every channel):
// the full tier is what grows each step, so it is kept small. kept and keptV are per layer (ThinK's
// and value pruning's counts are); which channels, per head. Bytes are what the live prefixes hold,
// counted with the one byte formula (core/cacheBytes.ts) that memory-budget mode and the extension
// project with.
import '../engine/float16Mapping';
import { Tensor } from 'onnxruntime-node';
import { elementBytes, headBytes, unprunedBytes } from '../../core/cacheBytes';
import { KEY_GROUP, rowBytes, valueGroup, type KvBits } from '../../core/kiviLayout';
import type { CacheStats } from '../../core/protocol/rpc';
import type { CachePrecision } from '../../core/protocol/settings';
import { cacheInput } from '../graph/attention';
import { halfToFloat } from '../model/safetensors';
import { blockView, dropOldest, growRows, keepRows, shrink, type Block } from './headBlocks';
import { quantizeKeyGroup, quantizeValueRow } from './kivi';
import type { PrunableCache } from './think';

/** Float tier elements: float16 bits or float32 values. */
export type Floats = Float32Array | Uint16Array;

let versions = 0;
let caches = 0;

export interface CacheLayout {
  /** Value channels may be pruned: compact values go back to D channels through a one-hot (value pruning, KIVI). */
  compressed: boolean;
  /** KIVI bits for compressed tokens (compressed layout only). */
  bits: KvBits | null;
  precision: CachePrecision;
}

/** Channel masks of one KV head. */
export interface HeadMasks {
  /** Key channels kept for compressed tokens, ascending (all D before any pruning). */
  keys: Int32Array;
  /** Channel scores that chose `keys` (for the inspector); null before pruning. */
  scores: Float64Array | null;
  /** Value channels kept for compressed tokens, ascending (compressed layout). */
  values: Int32Array;
  /** Prompt positions kept by token eviction (null: nothing evicted). */
  keptTokens: Int32Array | null;
}

/** One layer's tiers, head-major [Hkv, T, c]. */
export class LayerCache {
  heads: HeadMasks[];
  fullKeys: Floats;
  fullValues: Floats;
  compactKeys: Floats;
  compactValues: Floats;
  keyCodes = new Uint8Array(0);
  keyScales = new Uint16Array(0);
  keyMins = new Uint16Array(0);
  valueCodes = new Uint8Array(0);
  valueScales = new Uint16Array(0);
  valueMins = new Uint16Array(0);

  constructor(Hkv: number, D: number, capacity: number, precision: CachePrecision) {
    const all = Int32Array.from({ length: D }, (_, j) => j);
    this.heads = Array.from({ length: Hkv }, () => ({ keys: all, scores: null, values: all, keptTokens: null }));
    const floats = (n: number): Floats => (precision === 'float16' ? new Uint16Array(n) : new Float32Array(n));
    this.fullKeys = floats(Hkv * capacity * D);
    this.fullValues = floats(Hkv * capacity * D);
    this.compactKeys = floats(0);
    this.compactValues = floats(0);
  }

  /** Key channels kept per head (the same count for every head of a layer once tokens are compressed). */
  get kept(): number {
    return this.heads[0].keys.length;
  }

  get valueKept(): number {
    return this.heads[0].values.length;
  }

  private index: BigInt64Array | null = null;
  private select: Float32Array | null = null;

  /** int64 [Hkv, 1, 1, kept]: the kept key channels, as the graph gathers the queries with them (made once per mask). */
  keyIndex(): BigInt64Array {
    return (this.index ??= BigInt64Array.from(this.heads.flatMap((h) => Array.from(h.keys, BigInt))));
  }

  /** Sets head h's key channels (ascending). */
  setKeys(h: number, channels: Int32Array, scores: Float64Array): void {
    this.heads[h] = { ...this.heads[h], keys: Int32Array.from(channels), scores };
    this.index = null;
  }

  /** Sets head h's value channels (ascending). */
  setValues(h: number, channels: Int32Array): void {
    this.heads[h] = { ...this.heads[h], values: Int32Array.from(channels) };
    this.select = null;
  }

  /** float32 [Hkv, 1, keptV, D] one-hot: compact values back to their channels (made once per mask). */
  valueSelect(D: number): Float32Array {
    if (this.select) return this.select;
    const m = new Float32Array(this.heads.length * this.valueKept * D);
    this.heads.forEach((h, g) => h.values.forEach((j, i) => (m[(g * this.valueKept + i) * D + j] = 1)));
    return (this.select = m);
  }

  /** A deep copy: every buffer duplicated, so neither copy sees the other's appends or prunes. */
  clone(): LayerCache {
    const c = Object.create(LayerCache.prototype) as LayerCache;
    for (const [k, v] of Object.entries(this)) Reflect.set(c, k, ArrayBuffer.isView(v) ? (v as Block).slice() : v);
    c.heads = this.heads.map((h) => ({ ...h }));
    c.index = null;
    c.select = null;
    return c;
  }
}

export class KvCache implements PrunableCache {
  readonly layerCaches: LayerCache[];
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
    readonly layout: CacheLayout = { compressed: false, bits: null, precision: 'float16' },
  ) {
    this.layerCaches = Array.from({ length: layers }, () => new LayerCache(kvHeads, D, capacity, layout.precision));
  }

  /**
   * An independent copy of every tier, mask and counter, with its own id and version (a GPU copy
   * of this cache is not one of the clone's). Lets one prefill be decoded under two settings.
   */
  clone(): KvCache {
    const c = new KvCache(this.layers, this.kvHeads, this.D, 0, { ...this.layout });
    c.layerCaches.forEach((_, l) => (c.layerCaches[l] = this.layerCaches[l].clone()));
    Object.assign(c, { quantized: this.quantized, compact: this.compact, full: this.full, position: this.position, evicted: this.evicted, masked: this.masked });
    return c;
  }

  get pruned(): number {
    return this.quantized + this.compact;
  }

  get tokens(): number {
    return this.pruned + this.full;
  }

  /**
   * Appends S new tokens of layer l from the graph's outputs k, v: [S, Hkv, D], in the cache's
   * precision (the graph casts them). Call commit(S) after all layers.
   */
  append(l: number, k: Floats, v: Floats, S: number): void {
    const { D, kvHeads: H, full: Tf } = this;
    const L = this.layerCaches[l];
    L.fullKeys = growRows(L.fullKeys, H, Tf, S, D, 64);
    L.fullValues = growRows(L.fullValues, H, Tf, S, D, 64);
    for (let h = 0; h < H; h++)
      for (let s = 0; s < S; s++) {
        const src = (s * H + h) * D;
        const dst = (h * (Tf + S) + Tf + s) * D;
        L.fullKeys.set(k.subarray(src, src + D) as never, dst);
        L.fullValues.set(v.subarray(src, src + D) as never, dst);
      }
  }

  commit(S: number): void {
    this.full += S;
    this.position += S;
  }

  /** Full keys [full, D] of one head as float32, oldest first (ThinK's key squares read them). */
  keysOf(l: number, kv: number): Float32Array {
    return this.fullRows(this.layerCaches[l].fullKeys, kv);
  }

  /** Full values [full, D] of one head as float32, oldest first (value scores read them before pruning). */
  fullValuesOf(l: number, kv: number): Float32Array {
    return this.fullRows(this.layerCaches[l].fullValues, kv);
  }

  private fullRows(tier: Floats, kv: number): Float32Array {
    const n = this.full * this.D;
    return toFloat32(tier.subarray(kv * n, (kv + 1) * n));
  }

  /** Sets layer l, head kv's key mask (ascending channel indices) before pruning with it. */
  setMask(l: number, kv: number, channels: Int32Array, scores: Float64Array): void {
    if (this.pruned > 0) throw new Error('KvCache: a mask cannot change once tokens are pruned with it');
    this.layerCaches[l].setKeys(kv, channels, scores);
    this.masked = true;
    this.version = ++versions;
  }

  /** Sets layer l, head kv's value-channel mask (compressed layout). */
  setValueMask(l: number, kv: number, channels: Int32Array): void {
    if (!this.layout.compressed) throw new Error('KvCache: value pruning needs the compressed layout');
    if (this.pruned > 0) throw new Error('KvCache: a mask cannot change once tokens are pruned with it');
    this.layerCaches[l].setValues(kv, channels);
    this.masked = true;
    this.version = ++versions;
  }

  /**
   * Keeps only the given full-tier rows (ascending) of each of layer l's heads: evicted tokens
   * leave. Every head keeps as many rows; call settleEviction(kept) after all layers.
   */
  evict(l: number, rows: readonly Int32Array[]): void {
    if (this.pruned > 0) throw new Error('KvCache: eviction happens before any token is compressed');
    const L = this.layerCaches[l];
    keepRows(L.fullKeys, this.kvHeads, this.full, rows, this.D);
    keepRows(L.fullValues, this.kvHeads, this.full, rows, this.D);
    rows.forEach((r, h) => (L.heads[h].keptTokens = r.slice()));
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
    const { D, kvHeads: H, compact: Tc, full: Tf } = this;
    const remaining = Tf - count;
    const groups = this.layout.bits ? Math.floor((Tc + count) / KEY_GROUP) : 0;
    for (const L of this.layerCaches) {
      const { kept, valueKept: vk } = L;
      if (L.heads.some((h) => h.keys.length !== kept || h.values.length !== vk))
        throw new Error('KvCache: every KV head of a layer must keep as many channels');
      L.compactKeys = growRows(L.compactKeys, H, Tc, count, kept, spare);
      L.compactValues = growRows(L.compactValues, H, Tc, count, vk, spare);
      for (let h = 0; h < H; h++) {
        gatherRows(L.fullKeys, h * Tf * D, D, count, L.heads[h].keys, L.compactKeys, (h * (Tc + count) + Tc) * kept);
        gatherRows(L.fullValues, h * Tf * D, D, count, L.heads[h].values, L.compactValues, (h * (Tc + count) + Tc) * vk);
      }
      dropOldest(L.fullKeys, H, Tf, count, D);
      dropOldest(L.fullValues, H, Tf, count, D);
      L.fullKeys = shrink(L.fullKeys, H * (remaining + spare) * D);
      L.fullValues = shrink(L.fullValues, H * (remaining + spare) * D);
      if (groups > 0) this.quantizeGroups(L, groups, Tc + count, spare);
    }
    this.full = remaining;
    this.compact += count - groups * KEY_GROUP;
    this.quantized += groups * KEY_GROUP;
    this.version = ++versions;
  }

  /** KIVI: the oldest `groups` x 32 of each head's `compactRows` compact tokens become codes. */
  private quantizeGroups(L: LayerCache, groups: number, compactRows: number, spare: number): void {
    const bits = this.layout.bits!;
    const H = this.kvHeads;
    const rows = groups * KEY_GROUP;
    const { kept, valueKept: vk } = L;
    const kRow = rowBytes(kept, bits);
    const vRow = rowBytes(vk, bits);
    const vGroups = vk / valueGroup(vk);
    const q = this.quantized;
    const g0 = q / KEY_GROUP;
    L.keyCodes = growRows(L.keyCodes, H, q, rows, kRow);
    L.keyScales = growRows(L.keyScales, H, g0, groups, kept);
    L.keyMins = growRows(L.keyMins, H, g0, groups, kept);
    L.valueCodes = growRows(L.valueCodes, H, q, rows, vRow);
    L.valueScales = growRows(L.valueScales, H, q, rows, vGroups);
    L.valueMins = growRows(L.valueMins, H, q, rows, vGroups);
    for (let h = 0; h < H; h++) {
      const keys = toFloat32(L.compactKeys.subarray(h * compactRows * kept, (h * compactRows + rows) * kept));
      const values = toFloat32(L.compactValues.subarray(h * compactRows * vk, (h * compactRows + rows) * vk));
      for (let gi = 0; gi < groups; gi++) {
        const g = h * (g0 + groups) + g0 + gi;
        quantizeKeyGroup(keys, gi * KEY_GROUP * kept, kept, bits, L.keyCodes, g * KEY_GROUP * kRow, L.keyScales, L.keyMins, g * kept);
      }
      for (let t = 0; t < rows; t++) {
        const r = h * (q + rows) + q + t;
        quantizeValueRow(values, t * vk, vk, bits, L.valueCodes, r * vRow, L.valueScales, L.valueMins, r * vGroups);
      }
    }
    dropOldest(L.compactKeys, H, compactRows, rows, kept);
    dropOldest(L.compactValues, H, compactRows, rows, vk);
    // What stays float is less than a group plus later flushes: release the prompt-sized buffers.
    const floatRows = compactRows - rows + KEY_GROUP + spare;
    L.compactKeys = shrink(L.compactKeys, H * floatRows * kept);
    L.compactValues = shrink(L.compactValues, H * floatRows * vk);
  }

  /** The graph's cache inputs: zero-copy views of every layer's tiers. */
  feeds(): Record<string, Tensor> {
    const f: Record<string, Tensor> = {};
    const { D, kvHeads: H, quantized: Tq, compact: Tc, full: Tf } = this;
    const elem = this.layout.precision;
    const bits = this.layout.bits ?? 8;
    const floats = (a: Floats, T: number, c: number) => new Tensor(elem, blockView(a, H, T, c), [H, 1, T, c]);
    this.layerCaches.forEach((L, l) => {
      const { kept, valueKept: vk } = L;
      f[cacheInput.prunedKeys(l)] = floats(L.compactKeys, Tc, kept);
      f[cacheInput.keptIndex(l)] = new Tensor('int64', L.keyIndex(), [H, 1, 1, kept]);
      f[cacheInput.fullKeys(l)] = floats(L.fullKeys, Tf, D);
      f[cacheInput.values(l)] = floats(L.fullValues, Tf, D);
      f[cacheInput.compactValues(l)] = floats(L.compactValues, Tc, vk);
      if (!this.layout.compressed) return;
      f[cacheInput.valueSelect(l)] = new Tensor('float32', L.valueSelect(D), [H, 1, vk, D]);
      if (this.layout.bits === null) return; // no KIVI tier in the graph either
      const kRow = rowBytes(kept, bits);
      const vRow = rowBytes(vk, bits);
      const vGroups = vk / valueGroup(vk);
      f[cacheInput.keyCodes(l)] = new Tensor('uint8', blockView(L.keyCodes, H, Tq, kRow), [H, Tq, kRow]);
      f[cacheInput.keyScales(l)] = new Tensor('float16', blockView(L.keyScales, H, Tq / KEY_GROUP, kept), [H, Tq / KEY_GROUP, kept]);
      f[cacheInput.keyMins(l)] = new Tensor('float16', blockView(L.keyMins, H, Tq / KEY_GROUP, kept), [H, Tq / KEY_GROUP, kept]);
      f[cacheInput.valueCodes(l)] = new Tensor('uint8', blockView(L.valueCodes, H, Tq, vRow), [H, Tq, vRow]);
      f[cacheInput.valueScales(l)] = new Tensor('float16', blockView(L.valueScales, H, Tq, vGroups), [H, Tq, vGroups]);
      f[cacheInput.valueMins(l)] = new Tensor('float16', blockView(L.valueMins, H, Tq, vGroups), [H, Tq, vGroups]);
    });
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
    const e = elementBytes(this.layout.precision);
    let keyBytes = 0;
    let valueBytes = 0;
    let indexBytes = 0;
    let compressedBytes = 0;
    let allocated = 0;
    let keptSum = 0;
    for (const L of this.layerCaches) {
      keptSum += L.kept * kvHeads;
      const bytes = headBytes(tiers, { headDim: D, keptKeys: L.kept, keptValues: L.valueKept }, this.layout.bits, e);
      keyBytes += kvHeads * bytes.keys;
      valueBytes += kvHeads * bytes.values;
      indexBytes += kvHeads * bytes.indices;
      const compressed = headBytes({ ...tiers, full: 0 }, { headDim: D, keptKeys: L.kept, keptValues: L.valueKept }, this.layout.bits, e);
      compressedBytes += kvHeads * (compressed.keys + compressed.values);
      for (const b of [L.compactKeys, L.fullKeys, L.fullValues, L.compactValues, L.keyCodes, L.keyScales, L.keyMins, L.valueCodes, L.valueScales, L.valueMins]) allocated += b.byteLength;
    }
    const heads = layers * kvHeads;
    const tokens = Tq + Tc + Tf;
    // Tokens compacted at ratio 0 keep every channel: they count as full, as nothing was pruned.
    const prunedTokens = this.masked || this.layout.compressed ? Tq + Tc : 0;
    // The yardstick CacheStats compares against: one token of an unpruned float16 cache (llama.cpp's default).
    const fp16 = unprunedBytes(1, D, 2);
    return {
      tokens,
      prunedTokens,
      fullTokens: tokens - prunedTokens,
      keyBytes,
      valueBytes,
      fullKeyBytes: heads * unprunedBytes(tokens, D, e).keys,
      pruneRatio: this.masked ? 1 - keptSum / (heads * D) : 0,
      bytesPerElement: e,
      allocatedBytes: allocated,
      bytesPerToken: tokens ? (keyBytes + valueBytes + indexBytes) / tokens : 0,
      fp16FullBytesPerToken: heads * (fp16.keys + fp16.values),
      compressedBytesPerToken: Tq + Tc ? compressedBytes / (Tq + Tc) : 0,
      evictedTokens: this.evicted,
      quantizedTokens: Tq,
    };
  }
}

/** Rows [0, count) of src [*, D] from `from`, channels `index`, into dst at `at` ([count, index.length]). */
function gatherRows(src: Floats, from: number, D: number, count: number, index: Int32Array, dst: Floats, at: number): void {
  if (index.length === D) {
    dst.set(src.subarray(from, from + count * D) as never, at); // every channel: one copy
    return;
  }
  for (let t = 0; t < count; t++) {
    const row = from + t * D;
    for (let i = 0; i < index.length; i++) dst[at++] = src[row + index[i]];
  }
}

/** Float tier elements as float32 values (a copy). */
export function toFloat32(a: Floats): Float32Array {
  if (a instanceof Float32Array) return a.slice();
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = halfToFloat(a[i]);
  return out;
}
