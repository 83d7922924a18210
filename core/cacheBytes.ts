// The KV cache's bytes, stated once. KvCache.stats() counts what the cache holds with it,
// memory-budget mode projects a request with it (core/cacheProjection.ts), and the extension packs
// its prompt with that projection, so the three cannot disagree.
//
// Per layer and KV head, with D = head_dim, k kept key channels, v kept value channels (v = D when
// values are not pruned), e bytes per element (2 for the default float16 cache, 4 for float32) and tokens in the
// three tiers (runtime/cache/kvcache.ts):
//
//   keys    = Tq x (rowBytes(k) + k x 4 / 32)          KIVI codes; float16 scale and minimum per channel per 32 tokens
//           + Tc x k x e + Tf x D x e                  compact kept channels; whole keys
//   values  = Tq x (rowBytes(v) + v / group(v) x 4)    KIVI codes; float16 scale and minimum per channel group
//           + Tc x v x e + Tf x D x e
//   indices = 8 k + (v < D ? 8 v : 0)                  int64 channel indices (docs/compression.md "Bytes")
import { GROUP_PARAM_BYTES, KEY_GROUP, rowBytes, valueGroup, type KvBits } from './kiviLayout';
import type { CachePrecision } from './protocol/settings';

/** Bytes of one stored float element. */
export function elementBytes(p: CachePrecision): number {
  return p === 'float16' ? 2 : 4;
}

/** Kept-channel indices are int64, as the graph takes them. */
export const INDEX_BYTES = 8;

/** Tokens of one head in each tier. Tq is a whole number of KIVI groups. */
export interface TierCounts {
  quantized: number;
  compact: number;
  full: number;
}

/** One KV head's channels. */
export interface HeadChannels {
  headDim: number;
  /** Key channels kept for quantized and compact tokens (headDim before pruning). */
  keptKeys: number;
  /** Value channels kept for quantized and compact tokens (headDim when values are not pruned). */
  keptValues: number;
}

export interface CacheBytes {
  keys: number;
  values: number;
  indices: number;
}

/** One head's bytes. `bits` is the KIVI width of the quantized tier (null: there is none). */
export function headBytes(t: TierCounts, h: HeadChannels, bits: KvBits | null, bytesPerElement: number): CacheBytes {
  const { headDim: D, keptKeys: k, keptValues: v } = h;
  if (t.quantized > 0 && bits === null) throw new Error('cache bytes: quantized tokens need a KIVI width');
  const b = bits ?? 8;
  const quantizedKeys = t.quantized * rowBytes(k, b) + (t.quantized / KEY_GROUP) * k * GROUP_PARAM_BYTES;
  const quantizedValues = t.quantized * (rowBytes(v, b) + (v / valueGroup(v)) * GROUP_PARAM_BYTES);
  return {
    keys: quantizedKeys + (t.compact * k + t.full * D) * bytesPerElement,
    values: quantizedValues + (t.compact * v + t.full * D) * bytesPerElement,
    indices: k * INDEX_BYTES + (v < D ? v * INDEX_BYTES : 0),
  };
}

/** Every byte of `b`: what CacheStats.bytesPerToken divides and what a memory budget holds. */
export function totalBytes(b: CacheBytes): number {
  return b.keys + b.values + b.indices;
}

/** Keys and values of `tokens` unpruned tokens of one head (no indices): the reference figures. */
export function unprunedBytes(tokens: number, headDim: number, bytesPerElement: number): { keys: number; values: number } {
  const b = headBytes({ quantized: 0, compact: 0, full: tokens }, { headDim, keptKeys: headDim, keptValues: headDim }, null, bytesPerElement);
  return { keys: b.keys, values: b.values };
}
