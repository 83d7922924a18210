// What the cache will hold for a request: n prompt tokens compressed after prefill (eviction,
// ThinK, value pruning, KIVI: docs/compression.md), then N generated tokens. Memory-budget mode
// checks its candidate settings with this (runtime/cache/memoryBudget.ts) and the extension sizes
// its prompt with it (core/context/budget.ts), so what the extension packs is what the runtime
// then accepts. The tiers are the cache's at the end of generation, its largest point: flush only
// moves tokens to the (smaller) compressed tiers, so counting min(full, flush) full tokens bounds
// every step. Exact (equal to KvCache.stats()) when flush is off.
import { elementBytes, headBytes, totalBytes, type TierCounts } from './cacheBytes';
import { keptCount, ratioOf } from './keptChannels';
import { KEY_GROUP } from './kiviLayout';
import type { ModelInfo } from './protocol/rpc';
import type { CompressionSettings, ThinkSettings } from './protocol/settings';

export interface CacheSettings {
  think: Pick<ThinkSettings, 'ratio' | 'recent' | 'flush'>;
  compression: CompressionSettings;
}

export type CacheShape = Pick<ModelInfo, 'layers' | 'kvHeads' | 'headDim' | 'cachePrecision'>;

/**
 * Whether these settings need the compressed cache layout (runtime/cache/kvcache.ts CacheLayout):
 * KIVI codes or pruned value channels, whose compact values go back to D channels through a one-hot.
 */
export function needsCompressedLayout(c: CompressionSettings): boolean {
  return c.kvBits !== null || c.pruneValues > 0;
}

/**
 * Tier counts (the same for every head) after n prompt and N new tokens, and whether masks were
 * chosen: only when some prompt token is older than the recent window. Otherwise every token that
 * flush compacts keeps all channels.
 */
export function projectTiers(s: CacheSettings, n: number, N: number): TierCounts & { masked: boolean } {
  const { think, compression: c } = s;
  // Eviction keeps tokenBudget prefix tokens plus the observation window.
  const w = c.evict ? Math.min(c.evict.window, n) : 0;
  const stored = c.evict && n - w > c.evict.tokenBudget ? c.evict.tokenBudget + w : n;
  // All but the newest `recent` tokens leave the full tier after prefill, at ratio 0 too (keeping
  // every channel, so their bytes are a full token's): the full tier stays small enough to move.
  const fromPrompt = Math.max(0, stored - think.recent);
  const fullAtEnd = stored - fromPrompt + N;
  const full = think.flush > 0 ? Math.min(fullAtEnd, think.flush) : fullAtEnd;
  const compressed = fromPrompt + fullAtEnd - full;
  // KIVI quantizes every whole group of compressed tokens; the rest wait in the compact tier.
  const quantized = c.kvBits ? KEY_GROUP * Math.floor(compressed / KEY_GROUP) : 0;
  return { quantized, compact: compressed - quantized, full, masked: fromPrompt > 0 };
}

/** Every cache byte (keys, values, indices) after n prompt and N new tokens. */
export function projectCacheBytes(s: CacheSettings, n: number, N: number, m: CacheShape): number {
  const { think, compression: c } = s;
  const D = m.headDim;
  const tiers = projectTiers(s, n, N);
  const keptValues = tiers.masked && needsCompressedLayout(c) ? keptCount(c.pruneValues, D) : D;
  let perHead = 0;
  for (let l = 0; l < m.layers; l++) {
    // Without masks a head keeps (and indexes) all D channels, as ThinK's rounding of ratio 0 does.
    const keptKeys = tiers.masked ? keptCount(ratioOf(think, l), D) : D;
    perHead += totalBytes(headBytes(tiers, { headDim: D, keptKeys, keptValues }, c.kvBits, elementBytes(m.cachePrecision)));
  }
  return perHead * m.kvHeads;
}
