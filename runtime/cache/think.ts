// ThinK: Thinner Key Cache by Query-Driven Pruning (Xu et al., ICLR 2025), per layer and KV head.
//
// After the prompt is read, the key channels that matter least to the queries are dropped.
// For KV head g of a layer, with its G query heads, head_dim D, observation window W (the last w
// prompt positions) and pruned keys K (prompt positions [0, n - recent)):
//
//   score_j = (sum_{i in G, t in W} q_{i,t,j}^2) * (sum_{t in K} k_{t,j}^2)        j = 0..D-1
//
// i.e. ||Q_W[:, j]||^2 ||K[:, j]||^2, the paper's magnitude-based criterion, made GQA-aware by
// summing the group's queries so one mask serves the whole KV head (the official code keeps one
// per query head, which undoes GQA's saving). The D - floor(λ D) highest-scoring channels are kept
// (ties: the lower channel index); a pruned token's attention score then uses only those channels.
import { keptCount, ratioOf } from '../../core/keptChannels';
import type { ThinkSettings } from '../../core/protocol/settings';

/** sum_t k_{t,j}^2 over `rows` keys laid out [rows, D]. Returns [D]. */
export function keySquares(keys: Float32Array, rows: number, D: number): Float64Array {
  const out = new Float64Array(D);
  for (let t = 0; t < rows; t++) {
    const base = t * D;
    for (let j = 0; j < D; j++) out[j] += keys[base + j] * keys[base + j];
  }
  return out;
}

/** score_j = querySquares_j * keySquares_j. Both [D]. */
export function channelScores(querySquares: ArrayLike<number>, keySq: ArrayLike<number>): Float64Array {
  const out = new Float64Array(keySq.length);
  for (let j = 0; j < out.length; j++) out[j] = querySquares[j] * keySq[j];
  return out;
}

/** The `kept` highest-scoring channels (ties: lower index), ascending. */
export function selectChannels(scores: ArrayLike<number>, kept: number): Int32Array {
  const order = Array.from({ length: scores.length }, (_, j) => j);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return Int32Array.from(order.slice(0, kept)).sort();
}

/** Validates settings; throws one clear message per fault. */
export function checkThinkSettings(s: ThinkSettings, layers: number): void {
  const ratios = Array.isArray(s.ratio) ? s.ratio : [s.ratio];
  if (Array.isArray(s.ratio) && s.ratio.length !== layers)
    throw new Error(`ThinK: ${s.ratio.length} per-layer ratios given for a model with ${layers} layers`);
  for (const r of ratios)
    if (!(r >= 0 && r < 1)) throw new Error(`ThinK: prune ratio must be in [0, 1), got ${r}`);
  if (!(Number.isInteger(s.window) && s.window >= 1)) throw new Error(`ThinK: observation window must be a positive integer, got ${s.window}`);
  if (!(Number.isInteger(s.recent) && s.recent >= 0)) throw new Error(`ThinK: recent must be a non-negative integer, got ${s.recent}`);
  if (!(Number.isInteger(s.flush) && (s.flush === 0 || s.flush > s.recent)))
    throw new Error(`ThinK: flush must be 0 (off) or greater than recent (${s.recent}), got ${s.flush}`);
}

/** The cache operations ThinK needs (implemented by KvCache). */
export interface PrunableCache {
  readonly full: number;
  readonly pruned: number;
  keysOf(layer: number, kvHead: number): Float32Array; // full keys [full, D], oldest first
  setMask(layer: number, kvHead: number, channels: Int32Array, scores: Float64Array): void;
  prune(count: number, spare?: number): void;
}

/**
 * After prefill: score every channel of every layer and KV head from the window's query squares
 * (per layer [Hkv * D]) and the keys about to be pruned, keep the best D - floor(λ D), and move
 * the prompt's tokens [0, n - recent) to compact keys. At λ = 0 everywhere no mask is chosen and
 * the tokens move with every channel (the same numbers, in the tier that does not grow each step).
 * Returns whether channels were pruned.
 */
export function pruneAfterPrefill(
  cache: PrunableCache,
  querySquares: Float64Array[],
  s: ThinkSettings,
  shape: { kvHeads: number; headDim: number },
  spare = 0,
): boolean {
  const D = shape.headDim;
  const prunedCount = cache.full - s.recent;
  const ratios = querySquares.map((_, l) => ratioOf(s, l));
  if (cache.pruned > 0 || prunedCount <= 0) return false;
  const prunes = ratios.some((r) => r > 0);
  if (prunes)
    querySquares.forEach((qsq, l) => {
      for (let g = 0; g < shape.kvHeads; g++) {
        const scores = channelScores(qsq.subarray(g * D, (g + 1) * D), keySquares(cache.keysOf(l, g), prunedCount, D));
        cache.setMask(l, g, selectChannels(scores, keptCount(ratios[l], D)), scores);
      }
    });
  cache.prune(prunedCount, spare);
  return prunes;
}

/**
 * Beyond the paper, once the prompt is compressed: when more than `flush` tokens hold full keys, the
 * oldest join the compact tier with their head's mask (every channel when none was chosen),
 * leaving `recent`. The full tier, which grows every step, stays small.
 */
export function flushIfDue(cache: PrunableCache, s: Pick<ThinkSettings, 'flush' | 'recent'>): void {
  if (s.flush > 0 && cache.full > s.flush) cache.prune(cache.full - s.recent);
}
