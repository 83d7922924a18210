// What happens to the cache once the prompt is read (docs/compression.md), per layer and KV head:
//   1. token eviction (SnapKV / H2O), scored by the observation window's attention mass;
//   2. value-channel masks (ours), scored from the same mass and W_o's column energy;
//   3. ThinK key-channel masks, then the move of all but the newest `recent` tokens to the
//      compact tier, where KIVI quantizes every whole group of 32.
export { needsCompressedLayout } from '../../core/cacheProjection';
import type { CompressionSettings, ThinkSettings } from '../../core/protocol/settings';
import type { ModelConfig } from '../model/config';
import { selectTokens } from './evict';
import type { KvCache } from './kvcache';
import { keptCount } from '../../core/keptChannels';
import { pruneAfterPrefill, selectChannels } from './think';
import { valueScores } from './valuePrune';

export interface CompressInputs {
  cache: KvCache;
  /** Per layer [Hkv * D]: ThinK's window query squares. */
  querySquares: Float64Array[];
  /** [layer][kvHead][n]: the window's attention mass per cached token; needed by eviction and value pruning. */
  mass: Float32Array[][] | null;
  /** [layer][kvHead][D]: W_o column energy per value channel; needed by value pruning. */
  outputEnergy: Float64Array[][] | null;
  think: ThinkSettings;
  compression: CompressionSettings;
  config: ModelConfig;
  /** Compact slots to reserve for later flushes. */
  spare: number;
}

export function compressAfterPrefill(x: CompressInputs): void {
  const { cache, think, compression: comp, config } = x;
  const { layers, kvHeads, headDim: D } = config;
  let mass = x.mass;

  if (comp.evict) {
    const n = cache.full;
    let kept = n;
    const survivors: Float32Array[][] = [];
    for (let l = 0; l < layers; l++) {
      const rows = mass![l].map((m) => selectTokens(m, n, comp.evict!)); // per KV head
      cache.evict(l, rows);
      survivors.push(rows.map((r, g) => Float32Array.from(r, (t) => mass![l][g][t])));
      kept = rows[0].length;
    }
    cache.settleEviction(kept);
    mass = survivors;
  }

  const count = cache.full - think.recent;
  if (comp.pruneValues > 0 && count > 0)
    for (let l = 0; l < layers; l++)
      for (let g = 0; g < kvHeads; g++) {
        const s = valueScores(cache.fullValuesOf(l, g), mass![l][g], count, x.outputEnergy![l][g]);
        cache.setValueMask(l, g, selectChannels(s, keptCount(comp.pruneValues, D)));
      }

  pruneAfterPrefill(cache, x.querySquares, think, config, x.spare);
}

/** The window's attention mass is needed (and the scorer must run) for these settings. */
export function needsWindowMass(c: CompressionSettings): boolean {
  return c.evict !== null || c.pruneValues > 0;
}

export function checkCompression(c: CompressionSettings): void {
  if (c.evict) {
    const e = c.evict;
    if (e.method !== 'snapkv' && e.method !== 'h2o') throw new Error(`eviction method must be snapkv or h2o, got ${String(e.method)}`);
    if (!(Number.isInteger(e.tokenBudget) && e.tokenBudget >= 1)) throw new Error(`token budget must be a positive integer, got ${e.tokenBudget}`);
    if (!(Number.isInteger(e.window) && e.window >= 1)) throw new Error(`eviction window must be a positive integer, got ${e.window}`);
    if (!(Number.isInteger(e.kernel) && e.kernel >= 1 && e.kernel % 2 === 1)) throw new Error(`max-pool kernel must be a positive odd integer, got ${e.kernel}`);
  }
  if (c.kvBits !== null && c.kvBits !== 2 && c.kvBits !== 4) throw new Error(`KV cache bits must be 2 or 4, got ${c.kvBits}`);
  if (!(c.pruneValues >= 0 && c.pruneValues < 1)) throw new Error(`value prune ratio must be in [0, 1), got ${c.pruneValues}`);
}
