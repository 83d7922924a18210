// Next-token choice from logits, with Hugging Face's semantics and order: repetition penalty on
// the raw logits, then temperature, top-k, top-p (nucleus), then a draw from a seeded PRNG.
// Temperature 0 (or unset) is greedy argmax, ties to the lowest id.
//
// Built for vocabularies of 128k+: one copy of the logits into a reused buffer, top-k and the
// nucleus found by quickselect partitioning (expected O(V)), never a full sort.

import { randomInt } from 'node:crypto';
import type { SamplingParams } from '../src/protocol';

export class Sampler {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly repetitionPenalty: number;
  /** The seed in use (random when none was given), so a run can be repeated. */
  readonly seed: number;

  private readonly random: () => number;
  /** Penalized logits, NaN replaced by -Infinity (reused between calls). */
  private values = new Float32Array(0);
  /** Candidate token ids, partitioned in place (reused between calls). */
  private order = new Int32Array(0);
  private weights = new Float64Array(0);

  constructor(p: SamplingParams = {}) {
    this.temperature = p.temperature ?? 0;
    this.topK = p.topK ?? 0;
    this.topP = p.topP ?? 1;
    this.repetitionPenalty = p.repetitionPenalty ?? 1;
    this.seed = p.seed ?? randomInt(0, 2 ** 32);
    if (!(Number.isFinite(this.temperature) && this.temperature >= 0)) {
      throw new RangeError(`sampling.temperature must be a finite number >= 0 (0 = greedy), got ${p.temperature}`);
    }
    if (!(Number.isInteger(this.topK) && this.topK >= 0)) {
      throw new RangeError(`sampling.topK must be an integer >= 0 (0 = off), got ${p.topK}`);
    }
    if (!(this.topP > 0 && this.topP <= 1)) throw new RangeError(`sampling.topP must be in (0, 1] (1 = off), got ${p.topP}`);
    if (!(Number.isFinite(this.repetitionPenalty) && this.repetitionPenalty > 0)) {
      throw new RangeError(`sampling.repetitionPenalty must be a finite number > 0 (1 = off), got ${p.repetitionPenalty}`);
    }
    if (!Number.isInteger(this.seed)) throw new RangeError(`sampling.seed must be an integer, got ${p.seed}`);
    this.random = xoshiro128ss(this.seed);
  }

  get greedy(): boolean {
    return this.temperature === 0;
  }

  /**
   * The next token id. `logits` [V] is not modified. `history` (prompt + generated ids) feeds the
   * repetition penalty: each distinct id's logit is divided by the penalty when positive and
   * multiplied when negative (ids outside [0, V) are ignored).
   */
  sample(logits: Float32Array, history: readonly number[]): number {
    const n = logits.length;
    if (n === 0) throw new RangeError('cannot sample from empty logits');
    const values = this.prepare(logits, history);

    if (this.greedy) return argmax(values);

    const order = this.order;
    for (let i = 0; i < n; i++) order[i] = i;
    let count = n;
    if (this.topK > 0 && this.topK < n) {
      selectTop(order, 0, n, this.topK, values);
      count = this.topK;
    }

    // Softmax numerators at temperature T over the candidates; the max keeps exp() in range.
    let max = -Infinity;
    for (let i = 0; i < count; i++) if (values[order[i]] > max) max = values[order[i]];
    if (max === -Infinity) throw new RangeError('cannot sample: every logit is -Infinity or NaN');
    const weights = this.weights;
    let total = 0;
    for (let i = 0; i < count; i++) {
      const w = Math.exp((values[order[i]] - max) / this.temperature);
      weights[order[i]] = w;
      total += w;
    }

    if (this.topP < 1) {
      const kept = nucleus(order, count, weights, values, this.topP * total);
      total = 0;
      for (let i = 0; i < kept; i++) total += weights[order[i]];
      count = kept;
    }

    let u = this.random() * total;
    for (let i = 0; i < count; i++) {
      u -= weights[order[i]];
      if (u < 0) return order[i];
    }
    // Rounding left u a hair above zero: the last candidate with any weight takes it.
    for (let i = count - 1; i >= 0; i--) if (weights[order[i]] > 0) return order[i];
    return order[0];
  }

  /** Copies the logits with the repetition penalty applied and NaN made -Infinity. */
  private prepare(logits: Float32Array, history: readonly number[]): Float32Array {
    const n = logits.length;
    if (this.values.length !== n) {
      this.values = new Float32Array(n);
      this.order = new Int32Array(n);
      this.weights = new Float64Array(n);
    }
    const values = this.values;
    values.set(logits);
    for (let i = 0; i < n; i++) if (Number.isNaN(values[i])) values[i] = -Infinity;
    if (this.repetitionPenalty !== 1) {
      const seen = new Set<number>();
      for (const id of history) {
        if (!Number.isInteger(id) || id < 0 || id >= n || seen.has(id)) continue;
        seen.add(id);
        const v = values[id];
        values[id] = v < 0 ? v * this.repetitionPenalty : v / this.repetitionPenalty;
      }
    }
    return values;
  }
}

/** Index of the largest value; the lowest index among equals. */
function argmax(values: Float32Array): number {
  let best = 0;
  let bestValue = values[0];
  for (let i = 1; i < values.length; i++) {
    if (values[i] > bestValue) {
      bestValue = values[i];
      best = i;
    }
  }
  return best;
}

/** Ranking: higher value first, lower id among equal values (a total order, so results are unique). */
function ahead(values: Float32Array, a: number, b: number): boolean {
  const va = values[a];
  const vb = values[b];
  return va > vb || (va === vb && a < b);
}

/**
 * Partitions order[lo, hi) around a median-of-three pivot: ids ranked ahead of it first.
 * Returns the pivot's final position.
 */
function partition(order: Int32Array, lo: number, hi: number, values: Float32Array): number {
  const mid = (lo + hi) >>> 1;
  const last = hi - 1;
  // Median of three moved to `last`.
  const a = order[lo];
  const b = order[mid];
  const c = order[last];
  let m: number;
  if (ahead(values, a, b)) m = ahead(values, b, c) ? mid : ahead(values, a, c) ? last : lo;
  else m = ahead(values, a, c) ? lo : ahead(values, b, c) ? last : mid;
  swap(order, m, last);
  const pivot = order[last];
  let store = lo;
  for (let i = lo; i < last; i++) {
    if (ahead(values, order[i], pivot)) swap(order, i, store++);
  }
  swap(order, store, last);
  return store;
}

function swap(order: Int32Array, i: number, j: number): void {
  const t = order[i];
  order[i] = order[j];
  order[j] = t;
}

/** Sorts order[lo, hi) by rank (used for short ranges and as the quickselect worst-case guard). */
function sortRange(order: Int32Array, lo: number, hi: number, values: Float32Array): void {
  const part = Array.from(order.subarray(lo, hi)).sort((a, b) => (ahead(values, a, b) ? -1 : ahead(values, b, a) ? 1 : 0));
  order.set(part, lo);
}

/** Rearranges order[lo, hi) so its first k entries are the k top-ranked ids (in no particular order). */
function selectTop(order: Int32Array, lo: number, hi: number, k: number, values: Float32Array): void {
  const target = lo + k;
  let rounds = 2 * Math.ceil(Math.log2(hi - lo + 1)) + 8;
  while (hi - lo > 1) {
    if (--rounds < 0) {
      // Pathological pivots: finish with a sort of what is left (bounded cost, same result).
      sortRange(order, lo, hi, values);
      return;
    }
    const p = partition(order, lo, hi, values);
    if (p === target || p === target - 1) return;
    if (p < target) lo = p + 1;
    else hi = p;
  }
}

/**
 * Rearranges order[0, count) so that its first `kept` entries are the nucleus: the smallest
 * top-ranked set whose weight reaches `target` (HF top-p: the token that crosses p is kept).
 * Weighted quickselect: only the side holding the crossing point is refined.
 */
function nucleus(order: Int32Array, count: number, weights: Float64Array, values: Float32Array, target: number): number {
  let lo = 0;
  let hi = count;
  let before = 0; // weight of order[0, lo), all ranked ahead of order[lo, hi)
  let rounds = 2 * Math.ceil(Math.log2(count + 1)) + 8;
  while (hi - lo > 16 && rounds-- > 0) {
    const p = partition(order, lo, hi, values);
    let upper = before;
    for (let i = lo; i < p; i++) upper += weights[order[i]];
    if (upper >= target) {
      hi = p;
    } else if (upper + weights[order[p]] >= target) {
      return Math.max(1, p + 1);
    } else {
      before = upper + weights[order[p]];
      lo = p + 1;
    }
  }
  sortRange(order, lo, hi, values);
  let sum = before;
  for (let i = lo; i < hi; i++) {
    sum += weights[order[i]];
    if (sum >= target) return i + 1;
  }
  // Rounding: the whole candidate set did not quite reach the target; keep all of it.
  return Math.max(1, hi);
}

/** xoshiro128** seeded through splitmix32: fast, well distributed, reproducible across platforms. */
function xoshiro128ss(seed: number): () => number {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  return () => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result / 4294967296;
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
