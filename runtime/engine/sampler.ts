// Next-token choice from logits, with Hugging Face's semantics and order: repetition penalty on
// the raw logits, then temperature, top-k, top-p (nucleus), then a draw from a seeded PRNG.
// Temperature 0 (or unset) is greedy argmax, ties to the lowest id.
//
// Built for vocabularies of 128k+: one copy of the logits into a reused buffer, top-k by a heap of
// k, the nucleus by a log-weight bucket pre-filter and weighted quickselect; never a full sort.

import { randomInt } from 'node:crypto';
import type { SamplingParams } from '../../core/protocol/rpc';

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
  /** Log-weight bucket of each id (top-p pre-filter; reused between calls). */
  private buckets = new Uint8Array(0);
  /** Lowest id holding the largest value (set by prepare). */
  private best = 0;

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
    const count = this.narrow(logits, history);
    if (count === ALL) return this.drawAll();
    return count === 1 ? this.order[0] : this.drawFrom(count);
  }

  /**
   * The ids the next draw chooses among (after penalty, temperature, top-k and top-p), ascending,
   * with their probabilities: for inspection (and tests of the cut). Consumes no randomness.
   */
  candidates(logits: Float32Array, history: readonly number[]): Array<{ id: number; prob: number }> {
    const count = this.narrow(logits, history);
    const ids = count === ALL ? Array.from(this.values.keys()) : Array.from(this.order.subarray(0, count));
    let total = 0;
    for (const id of ids) total += this.weights[id];
    return ids.sort((a, b) => a - b).map((id) => ({ id, prob: this.weights[id] / total }));
  }

  /**
   * Prepares the values and weights and puts the candidates in order[0, count); returns count,
   * or ALL when every id is a candidate in id order (plain softmax: no order array to fill).
   */
  private narrow(logits: Float32Array, history: readonly number[]): number {
    const n = logits.length;
    if (n === 0) throw new RangeError('cannot sample from empty logits');
    const max = this.prepare(logits, history);
    if (max === -Infinity) throw new RangeError('cannot sample: every logit is -Infinity or NaN');
    if (this.greedy) {
      this.order[0] = this.best;
      this.weights[this.best] = 1;
      return 1;
    }
    // exp(Inf - Inf) is NaN: there is no distribution to draw from (HF fails here too).
    if (max === Infinity) throw new RangeError('cannot sample: a logit is +Infinity (only greedy decoding can use such logits)');
    if (this.topK > 0 && this.topK < n) return this.narrowTopK(max);
    if (this.topP < 1) return this.narrowNucleus(max);
    const { values, weights } = this;
    const invT = 1 / this.temperature;
    for (let i = 0; i < n; i++) weights[i] = Math.exp((values[i] - max) * invT);
    return ALL;
  }

  /** top-k by heap selection, then (if set) top-p over the k renormalized. */
  private narrowTopK(max: number): number {
    const { values, order, weights } = this;
    const k = this.topK;
    selectTop(values, order, k);
    const invT = 1 / this.temperature;
    let total = 0;
    for (let i = 0; i < k; i++) total += weights[order[i]] = Math.exp((values[order[i]] - max) * invT);
    return this.topP < 1 ? nucleus(order, 0, k, weights, values, 0, this.topP * total) : k;
  }

  /**
   * top-p over the whole vocabulary. One pass buckets every id by its log-weight (max - v) / T;
   * bucket masses say which buckets the nucleus reaches into, so only ids in those buckets are
   * ranked (buckets follow value order, so every id outside ranks after every id inside).
   */
  private narrowNucleus(max: number): number {
    const { values, order, weights, buckets } = this;
    const n = values.length;
    const invT = 1 / this.temperature;
    const mass = new Float64Array(BUCKETS);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const d = (max - values[i]) * invT;
      const w = Math.exp(-d);
      const b = d < BUCKETS / BUCKETS_PER_NAT ? Math.floor(d * BUCKETS_PER_NAT) : BUCKETS - 1;
      weights[i] = w;
      buckets[i] = b;
      total += w;
      mass[b] += w;
    }
    const target = this.topP * total;
    // Buckets before `cut` are wholly inside the nucleus; it ends somewhere inside bucket `cut`.
    let cut = 0;
    let before = 0;
    while (cut < BUCKETS - 1 && before + mass[cut] < target) before += mass[cut++];
    // order[0, inside): ids of the whole buckets; then the ids of bucket `cut`, gathered from
    // the back of `order` and moved up behind them.
    let inside = 0;
    let tail = n;
    for (let i = 0; i < n; i++) {
      const b = buckets[i];
      if (b < cut) order[inside++] = i;
      else if (b === cut) order[--tail] = i;
    }
    const boundary = n - tail;
    order.copyWithin(inside, tail, n);
    return nucleus(order, inside, inside + boundary, weights, values, before, target);
  }

  /** A draw among all ids in proportion to their weights. */
  private drawAll(): number {
    const weights = this.weights;
    const n = weights.length;
    let total = 0;
    for (let i = 0; i < n; i++) total += weights[i];
    let u = this.random() * total;
    for (let i = 0; i < n; i++) {
      u -= weights[i];
      if (u < 0) return i;
    }
    return lastWeighted(weights, n);
  }

  /** A draw among order[0, count) in proportion to their weights. */
  private drawFrom(count: number): number {
    const { order, weights } = this;
    let total = 0;
    for (let i = 0; i < count; i++) total += weights[order[i]];
    let u = this.random() * total;
    for (let i = 0; i < count; i++) {
      u -= weights[order[i]];
      if (u < 0) return order[i];
    }
    // Rounding left u a hair above zero: the last candidate with any weight takes it.
    for (let i = count - 1; i > 0; i--) if (weights[order[i]] > 0) return order[i];
    return order[0];
  }

  /**
   * Copies the logits into `values` with NaN made -Infinity and the repetition penalty applied;
   * returns the largest value.
   */
  private prepare(logits: Float32Array, history: readonly number[]): number {
    const n = logits.length;
    if (this.values.length !== n) {
      this.values = new Float32Array(n);
      this.order = new Int32Array(n);
      this.weights = new Float64Array(n);
      this.buckets = new Uint8Array(n);
    }
    const values = this.values;
    let max = -Infinity;
    let best = 0;
    for (let i = 0; i < n; i++) {
      const v = logits[i];
      if (v !== v) values[i] = -Infinity; // NaN
      else {
        values[i] = v;
        if (v > max) {
          max = v;
          best = i;
        }
      }
    }
    if (this.repetitionPenalty !== 1) {
      const seen = new Set<number>();
      for (const id of history) {
        if (!Number.isInteger(id) || id < 0 || id >= n || seen.has(id)) continue;
        seen.add(id);
        const v = values[id];
        values[id] = v < 0 ? v * this.repetitionPenalty : v / this.repetitionPenalty;
      }
      // A penalty only lowers values, but the max may have been one of them.
      best = argmax(values);
      max = values[best];
    }
    this.best = best;
    return max;
  }
}

/** narrow()'s answer when every id is a candidate. */
const ALL = -1;

/** Nucleus pre-filter resolution: buckets of 1/4 nat of log-weight, the last one open-ended. */
const BUCKETS_PER_NAT = 4;
const BUCKETS = 96;

function lastWeighted(weights: Float64Array, n: number): number {
  for (let i = n - 1; i > 0; i--) if (weights[i] > 0) return i;
  return 0;
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

/** Sorts order[lo, hi) by rank (short ranges, and the quickselect worst-case guard). */
function sortRange(order: Int32Array, lo: number, hi: number, values: Float32Array): void {
  const part = Array.from(order.subarray(lo, hi)).sort((a, b) => (ahead(values, a, b) ? -1 : ahead(values, b, a) ? 1 : 0));
  order.set(part, lo);
}

/**
 * Puts the k top-ranked ids in order[0, k) (in no particular order): a min-heap of the best k
 * seen, whose root is the weakest; most ids lose to the root in one comparison, so O(V) for small k.
 */
function selectTop(values: Float32Array, order: Int32Array, k: number): void {
  for (let i = 0; i < k; i++) {
    order[i] = i;
    siftUp(values, order, i);
  }
  for (let id = k; id < values.length; id++) {
    if (!ahead(values, id, order[0])) continue;
    order[0] = id;
    siftDown(values, order, k);
  }
}

/** Heap order: a parent is ranked behind (weaker than) its children. */
function siftUp(values: Float32Array, heap: Int32Array, at: number): void {
  let i = at;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!ahead(values, heap[parent], heap[i])) break;
    swap(heap, parent, i);
    i = parent;
  }
}

function siftDown(values: Float32Array, heap: Int32Array, size: number): void {
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= size) return;
    const r = l + 1;
    const weaker = r < size && ahead(values, heap[l], heap[r]) ? r : l;
    if (!ahead(values, heap[i], heap[weaker])) return;
    swap(heap, i, weaker);
    i = weaker;
  }
}

/**
 * Rearranges order[lo0, hi0) so that order[lo0, kept) is the nucleus: the smallest top-ranked set
 * whose weight, plus `before` (the weight of everything ranked ahead), reaches `target` (HF top-p:
 * the token that crosses p is kept). Returns `kept`. Weighted quickselect: only the side holding
 * the crossing point is refined, so no full sort.
 */
function nucleus(order: Int32Array, lo0: number, hi0: number, weights: Float64Array, values: Float32Array, before0: number, target: number): number {
  if (hi0 === lo0) return lo0; // nothing to refine: the nucleus is what precedes
  let lo = lo0;
  let hi = hi0;
  let before = before0; // weight of order[lo0, lo), all ranked ahead of order[lo, hi)
  let rounds = 2 * Math.ceil(Math.log2(hi0 - lo0 + 1)) + 8;
  while (hi - lo > 16 && rounds-- > 0) {
    const p = partition(order, lo, hi, values);
    let upper = before;
    for (let i = lo; i < p; i++) upper += weights[order[i]];
    if (upper >= target) {
      hi = p;
    } else if (upper + weights[order[p]] >= target) {
      return p + 1;
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
  return Math.max(lo0 + 1, hi);
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
