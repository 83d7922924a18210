// Token eviction after prefill (docs/compression.md §1): SnapKV (Li et al., 2024) keeps the prefix
// tokens that the observation window attends to most, smoothed by a 1-D max-pool so that a kept
// token brings its neighbours; H2O (Zhang et al., 2023) keeps the heavy hitters of the same
// accumulated attention without pooling. Each KV head keeps its own tokens.
import type { EvictSettings } from '../../core/protocol/settings';

export const DEFAULT_EVICT: Omit<EvictSettings, 'method' | 'tokenBudget'> = { window: 32, kernel: 7 };

/** Max over |u - t| <= floor(kernel / 2), borders truncated. */
export function maxPool(a: ArrayLike<number>, kernel: number): Float64Array {
  const r = Math.floor(kernel / 2);
  const out = new Float64Array(a.length);
  for (let t = 0; t < a.length; t++) {
    let m = -Infinity;
    for (let u = Math.max(0, t - r); u <= Math.min(a.length - 1, t + r); u++) m = Math.max(m, a[u]);
    out[t] = m;
  }
  return out;
}

/**
 * Rows to keep, ascending: the B prefix tokens [0, n - w) with the largest (pooled) window
 * attention `mass` (ties: lower position), then the window [n - w, n). `mass` is [n].
 */
export function selectTokens(mass: ArrayLike<number>, n: number, s: EvictSettings): Int32Array {
  const w = Math.min(s.window, n);
  const prefix = n - w;
  if (prefix <= s.tokenBudget) return Int32Array.from({ length: n }, (_, i) => i);
  const score = s.method === 'snapkv' ? maxPool(Array.from({ length: prefix }, (_, t) => mass[t]), s.kernel) : Float64Array.from({ length: prefix }, (_, t) => mass[t]);
  const order = Array.from({ length: prefix }, (_, t) => t).sort((a, b) => score[b] - score[a] || a - b);
  const kept = order.slice(0, s.tokenBudget).sort((a, b) => a - b);
  for (let t = prefix; t < n; t++) kept.push(t);
  return Int32Array.from(kept);
}
