// The test oracle: a plain float64 forward of Llama / Mistral / Qwen2 with ThinK and the cache
// compressions of docs/compression.md, written for clarity rather than speed, one token at a
// time. It shares only the weight loader, the RoPE frequencies and float16 rounding with the
// runtime, so engine tests compare two independent computations.
//
// ThinK semantics (../shared/models/README.md and docs/architecture.md):
// - the prompt (n tokens) is prefilled with full keys;
// - observation window: the last w = min(window, n) prompt positions, queries after RoPE;
// - per layer and KV head g: score_j = (sum over g's query heads and the window of q_j^2) x
//   (sum over the pruned prompt keys of k_j^2); keep the D - floor(ratio x D) highest, ties to
//   the lower channel index;
// - pruned tokens: each head's surviving prompt tokens except its newest `recent`; a pruned
//   token's attention score uses only its head's kept channels (the same as zero-filling);
// - flush: after a decode step, when the tokens holding full keys exceed `flush` (0 disables),
//   the oldest (full - recent) of them are pruned with their head's existing mask (and, with
//   value pruning, its value mask: the compressed store is uniform, as the engine keeps it).
//
// Compression (docs/compression.md), all once after the prompt, in this order per layer and head:
// 1. eviction (SnapKV / H2O) from the window attention mass, each KV head its own kept tokens;
// 2. ThinK over the survivors;
// 3. value-channel pruning of the same pruned tokens, scored with the W_o column energy;
// 4. KIVI: whole groups of 32 compressed tokens are quantized (keys per channel, values per
//    token); flushed tokens join the compressed store (key and value masks applied) and later
//    whole groups get quantized too. docs/compression.md §3's "recent and generated tokens keep
//    all value channels" is read as: while they are not yet flushed.
// Dropped channels, evicted tokens and quantization are all materialized in the cached rows
// (zeros, removal, dequantized values), so attention itself stays the plain loop.
import type { ModelConfig } from '../../runtime/model/config';
import { ropeAttentionFactor, ropeInvFreq } from '../../runtime/graph/rope';
import { readTensor64, type ModelWeights, type TensorRef } from '../../runtime/model/weights';
import {
  KIVI_GROUP,
  h2oSelect,
  kiviDequantize,
  kiviQuantize,
  outputEnergy,
  snapkvSelect,
  valueChannelScores,
  valueGroupSize,
} from './compressionReference';

export interface RefThink {
  ratio: number | number[];
  window: number;
  recent: number;
  flush: number;
}

export interface RefEvict {
  method: 'snapkv' | 'h2o';
  tokenBudget: number;
  window: number;
  kernel: number;
}

/** The reference's reading of protocol.ts CompressionSettings (missing fields = off). */
export interface RefCompression {
  evict?: RefEvict | null;
  kvBits?: 2 | 4 | null;
  pruneValues?: number;
}

export interface RefOptions {
  compression?: RefCompression;
  /** Teacher forcing: feed these ids (one per step) instead of the argmax; stepLogits[i] then predicts forceIds[i]. */
  forceIds?: number[];
}

/** Cache bytes at the end, counted as docs/compression.md "Bytes" says. */
export interface RefBytes {
  /** float32 keys and values, packed codes, float16 scales and minimums, int64 channel indices. */
  total: number;
  /** Tokens each KV head holds. */
  tokens: number;
  perToken: number;
  /** layers x kvHeads x D x 2 (K and V) x 2 bytes. */
  fp16FullPerToken: number;
}

export interface RefResult {
  ids: number[];
  /** logits that chose each generated id */
  stepLogits: Float64Array[];
  /** [layer][kvHead] ascending channel indices */
  kept: number[][][] | null;
  /** [layer][kvHead][channel] the scores ThinK ranked */
  scores: number[][][] | null;
  /** [layer][kvHead] ascending prompt positions left after eviction (null without eviction settings). */
  keptTokens: number[][][] | null;
  /** Prompt tokens each KV head evicted (0 when the budget covers the prefix). */
  evictedTokens: number;
  /** [layer][kvHead][t], t in [0, n): the window attention mass a_t (null when neither eviction nor value pruning needs it). */
  windowMass: number[][][] | null;
  /** [layer][kvHead] ascending value channels kept for compressed tokens (null without value pruning). */
  keptValueChannels: number[][][] | null;
  /** [layer][kvHead][channel] the value scores s_j (null without value pruning). */
  valueScores: number[][][] | null;
  /** Per KV head at the end: compressed tokens, and how many of them are KIVI-quantized. */
  compressedTokens: number;
  quantizedTokens: number;
  bytes: RefBytes;
}

interface RefLayer {
  inputNorm: Float64Array;
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  o: Float64Array;
  qBias: Float64Array | null;
  kBias: Float64Array | null;
  vBias: Float64Array | null;
  /** Qwen3's per-head RMSNorm weights [D] for queries and keys (null: none). */
  qNorm: Float64Array | null;
  kNorm: Float64Array | null;
  postNorm: Float64Array;
  gate: Float64Array;
  up: Float64Array;
  down: Float64Array;
}

/**
 * One KV head's cache, oldest first. The first `compressed` rows are compressed (key channels
 * masked, maybe value channels too), the first `quantized` of those hold dequantized KIVI values.
 */
interface RefHead {
  pos: number[];
  keys: Float64Array[];
  values: Float64Array[];
  /** Per row: the value channels it keeps (null: all D). */
  valueChannels: (number[] | null)[];
  compressed: number;
  quantized: number;
}

interface RefCache {
  /** [layer][kvHead] */
  heads: RefHead[][];
  /** [layer][kvHead] ThinK key channels, set once the prompt is scored. */
  kept: number[][][] | null;
  bits: 2 | 4 | null;
}

/** y[out] = W[out, in] . x (+ bias): the HF [out, in] layout. */
function matvec(w: Float64Array, x: Float64Array, outDim: number, bias: Float64Array | null = null): Float64Array {
  const inDim = x.length;
  const y = new Float64Array(outDim);
  for (let o = 0; o < outDim; o++) {
    let s = 0;
    const row = o * inDim;
    for (let i = 0; i < inDim; i++) s += w[row + i] * x[i];
    y[o] = bias ? s + bias[o] : s;
  }
  return y;
}

function rmsNorm(x: Float64Array, weight: Float64Array, eps: number): Float64Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] * scale * weight[i];
  return y;
}

/** RMSNorm of each D-sized head of `x` (D = weight.length), in place. */
function headNorm(x: Float64Array, weight: Float64Array, eps: number): void {
  const d = weight.length;
  for (let at = 0; at < x.length; at += d) x.set(rmsNorm(x.subarray(at, at + d), weight, eps), at);
}

/** Channels to keep: the `keep` highest scores, ties to the lower index, returned ascending. */
export function selectKept(scores: ArrayLike<number>, keep: number): number[] {
  const order = Array.from({ length: scores.length }, (_, j) => j);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, keep).sort((a, b) => a - b);
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** A copy of `row` with every channel outside `channels` set to zero. */
function masked(row: Float64Array, channels: readonly number[]): Float64Array {
  const out = new Float64Array(row.length);
  for (const j of channels) out[j] = row[j];
  return out;
}

/** Value mass window when no eviction sets one (docs/compression.md §3). */
const VALUE_MASS_WINDOW = 32;

export class ReferenceModel {
  readonly config: ModelConfig;
  private readonly embed: Float64Array;
  private readonly finalNorm: Float64Array;
  private readonly lmHead: Float64Array;
  private readonly layers: RefLayer[];
  private readonly invFreq: Float64Array;
  /** YaRN's factor on cos and sin (1 otherwise). */
  private readonly ropeScale: number;
  /** [layer][kvHead][D]: W_o column energy, computed on first use. */
  private energy: Float64Array[][] | null = null;

  constructor(w: ModelWeights) {
    this.config = w.config;
    const read = (r: TensorRef | undefined) => (r ? readTensor64(r) : null);
    this.embed = readTensor64(w.embed);
    this.finalNorm = readTensor64(w.finalNorm);
    this.lmHead = w.lmHead === w.embed ? this.embed : readTensor64(w.lmHead);
    this.layers = w.layers.map((l) => ({
      inputNorm: readTensor64(l.inputNorm),
      q: readTensor64(l.q),
      k: readTensor64(l.k),
      v: readTensor64(l.v),
      o: readTensor64(l.o),
      qBias: read(l.qBias),
      kBias: read(l.kBias),
      vBias: read(l.vBias),
      qNorm: read(l.qNorm),
      kNorm: read(l.kNorm),
      postNorm: readTensor64(l.postNorm),
      gate: readTensor64(l.gate),
      up: readTensor64(l.up),
      down: readTensor64(l.down),
    }));
    this.invFreq = ropeInvFreq(w.config);
    this.ropeScale = ropeAttentionFactor(w.config);
  }

  /** [layer][kvHead][D]: sum over the head's query heads of squared W_o column norms. */
  outputEnergy(): Float64Array[][] {
    const c = this.config;
    this.energy ??= this.layers.map((W) => outputEnergy(W.o, c.hiddenSize, c.queryHeads, c.kvHeads, c.headDim));
    return this.energy;
  }

  /** Rotate-half RoPE of each D-sized head in `x`, in place. */
  private rope(x: Float64Array, heads: number, pos: number): void {
    const d = this.config.headDim;
    const half = d / 2;
    for (let h = 0; h < heads; h++) {
      const base = h * d;
      for (let i = 0; i < half; i++) {
        const a = pos * this.invFreq[i];
        const c = Math.cos(a) * this.ropeScale;
        const s = Math.sin(a) * this.ropeScale;
        const x1 = x[base + i];
        const x2 = x[base + i + half];
        x[base + i] = x1 * c - x2 * s;
        x[base + i + half] = x2 * c + x1 * s;
      }
    }
  }

  /**
   * One token through the model at position `pos`: appends its keys and values to every head's
   * cache, adds its post-RoPE q^2 into `qsq` ([layer][kvHead][D]) and its attention
   * probabilities into `mass` ([layer][kvHead][position]) when given, and returns the logits when
   * asked (the prompt's earlier positions need none).
   */
  private step(
    id: number,
    pos: number,
    cache: RefCache,
    wantLogits: boolean,
    qsq: Float64Array[][] | null,
    mass: Float64Array[][] | null,
  ): Float64Array | null {
    const c = this.config;
    const d = c.headDim;
    const hidden = c.hiddenSize;
    const group = c.queryHeads / c.kvHeads;
    const invSqrtD = 1 / Math.sqrt(d);
    let h: Float64Array = this.embed.slice(id * hidden, (id + 1) * hidden);
    for (let l = 0; l < c.layers; l++) {
      const W = this.layers[l];
      const x = rmsNorm(h, W.inputNorm, c.rmsNormEps);
      const q = matvec(W.q, x, c.queryHeads * d, W.qBias);
      const k = matvec(W.k, x, c.kvHeads * d, W.kBias);
      const v = matvec(W.v, x, c.kvHeads * d, W.vBias);
      if (W.qNorm && W.kNorm) {
        headNorm(q, W.qNorm, c.rmsNormEps);
        headNorm(k, W.kNorm, c.rmsNormEps);
      }
      this.rope(q, c.queryHeads, pos);
      this.rope(k, c.kvHeads, pos);
      cache.heads[l].forEach((H, g) => {
        H.pos.push(pos);
        H.keys.push(k.slice(g * d, (g + 1) * d));
        H.values.push(v.slice(g * d, (g + 1) * d));
        H.valueChannels.push(null);
      });
      if (qsq) {
        for (let hq = 0; hq < c.queryHeads; hq++) {
          const acc = qsq[l][Math.floor(hq / group)];
          for (let j = 0; j < d; j++) acc[j] += q[hq * d + j] ** 2;
        }
      }
      const attn = new Float64Array(c.queryHeads * d);
      for (let hq = 0; hq < c.queryHeads; hq++) {
        const g = Math.floor(hq / group);
        const H = cache.heads[l][g];
        const qo = hq * d;
        const T = H.keys.length;
        const scores = new Float64Array(T);
        let max = -Infinity;
        for (let t = 0; t < T; t++) {
          const kt = H.keys[t];
          let s = 0;
          for (let j = 0; j < d; j++) s += q[qo + j] * kt[j];
          scores[t] = s * invSqrtD;
          if (scores[t] > max) max = scores[t];
        }
        let sum = 0;
        for (let t = 0; t < T; t++) {
          scores[t] = Math.exp(scores[t] - max);
          sum += scores[t];
        }
        for (let t = 0; t < T; t++) {
          const p = scores[t] / sum;
          if (mass) mass[l][g][H.pos[t]] += p;
          const vt = H.values[t];
          for (let j = 0; j < d; j++) attn[qo + j] += p * vt[j];
        }
      }
      const o = matvec(W.o, attn, hidden);
      for (let i = 0; i < hidden; i++) h[i] += o[i];
      const x2 = rmsNorm(h, W.postNorm, c.rmsNormEps);
      const gate = matvec(W.gate, x2, c.intermediateSize);
      const up = matvec(W.up, x2, c.intermediateSize);
      for (let i = 0; i < gate.length; i++) gate[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
      const down = matvec(W.down, gate, hidden);
      for (let i = 0; i < hidden; i++) h[i] += down[i];
    }
    if (!wantLogits) return null;
    h = rmsNorm(h, this.finalNorm, c.rmsNormEps);
    return matvec(this.lmHead, h, c.vocabSize);
  }

  private checkThink(t: RefThink): void {
    const L = this.config.layers;
    const ratios = Array.isArray(t.ratio) ? t.ratio : [t.ratio];
    if (Array.isArray(t.ratio) && t.ratio.length !== L) throw new Error(`reference: ${t.ratio.length} ratios for ${L} layers`);
    for (const r of ratios) if (!(r >= 0 && r <= 1)) throw new Error(`reference: ratio ${r} outside [0, 1]`);
    if (!Number.isInteger(t.window) || t.window < 0) throw new Error(`reference: window ${t.window}`);
    if (!Number.isInteger(t.recent) || t.recent < 0) throw new Error(`reference: recent ${t.recent}`);
    if (!Number.isInteger(t.flush) || t.flush < 0 || (t.flush !== 0 && t.flush <= t.recent)) throw new Error(`reference: flush ${t.flush} must be 0 or exceed recent ${t.recent}`);
  }

  private checkCompression(z: RefCompression, think: RefThink | null): void {
    const e = z.evict;
    if (e) {
      if (e.method !== 'snapkv' && e.method !== 'h2o') throw new Error(`reference: eviction method ${String(e.method)} is not snapkv or h2o`);
      if (!(Number.isInteger(e.tokenBudget) && e.tokenBudget >= 0)) throw new Error(`reference: token budget ${e.tokenBudget}`);
      if (!(Number.isInteger(e.window) && e.window >= 1)) throw new Error(`reference: eviction window ${e.window}`);
      if (!(Number.isInteger(e.kernel) && e.kernel >= 1 && e.kernel % 2 === 1)) throw new Error(`reference: max-pool kernel ${e.kernel} must be a positive odd integer`);
    }
    if (z.kvBits != null && z.kvBits !== 2 && z.kvBits !== 4) throw new Error(`reference: kvBits ${String(z.kvBits)} is not 2 or 4`);
    const rho = z.pruneValues ?? 0;
    if (!(rho >= 0 && rho < 1)) throw new Error(`reference: pruneValues ${rho} outside [0, 1)`);
    // Quantization and value pruning act on ThinK's compressed tokens: they need its `recent`.
    if (!think && (z.kvBits != null || rho > 0)) throw new Error('reference: kvBits and pruneValues need ThinK settings (ratio 0 for no key pruning)');
  }

  greedy(promptIds: number[], steps: number, think: RefThink | null = null, options: RefOptions = {}): RefResult {
    const c = this.config;
    const n = promptIds.length;
    if (n === 0) throw new Error('reference: empty prompt');
    for (const id of promptIds) if (!(Number.isInteger(id) && id >= 0 && id < c.vocabSize)) throw new Error(`reference: token id ${id} outside the vocabulary`);
    if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`reference: steps ${steps}`);
    if (n + steps - 1 > c.contextLength) throw new Error(`reference: ${n} + ${steps} tokens exceed the context (${c.contextLength})`);
    if (think) this.checkThink(think);
    const z = options.compression ?? {};
    this.checkCompression(z, think);
    const forced = options.forceIds;
    if (forced) {
      if (forced.length !== steps) throw new Error(`reference: ${forced.length} forced ids for ${steps} steps`);
      for (const id of forced) if (!(Number.isInteger(id) && id >= 0 && id < c.vocabSize)) throw new Error(`reference: forced id ${id} outside the vocabulary`);
    }
    const evict = z.evict ?? null;
    const rho = z.pruneValues ?? 0;

    const d = c.headDim;
    const cache: RefCache = {
      heads: Array.from({ length: c.layers }, () =>
        Array.from({ length: c.kvHeads }, () => ({ pos: [], keys: [], values: [], valueChannels: [], compressed: 0, quantized: 0 })),
      ),
      kept: null,
      bits: z.kvBits ?? null,
    };
    const perHead = () => Array.from({ length: c.layers }, () => Array.from({ length: c.kvHeads }, () => new Float64Array(d)));
    const qsq = think ? perHead() : null;
    const windowStart = think ? n - Math.min(think.window, n) : n;
    const needMass = evict !== null || rho > 0;
    const mass = needMass ? Array.from({ length: c.layers }, () => Array.from({ length: c.kvHeads }, () => new Float64Array(n))) : null;
    const massStart = n - Math.min(evict ? evict.window : VALUE_MASS_WINDOW, n);

    let logits: Float64Array | null = null;
    for (let t = 0; t < n; t++) logits = this.step(promptIds[t], t, cache, t === n - 1, t >= windowStart ? qsq : null, t >= massStart ? mass : null);

    // 1. Eviction: each head keeps its B best prefix tokens plus the whole window.
    let evictedTokens = 0;
    if (evict && mass) {
      const w = Math.min(evict.window, n);
      const prefix = n - w;
      if (prefix > evict.tokenBudget) {
        evictedTokens = prefix - evict.tokenBudget;
        cache.heads.forEach((layer, l) =>
          layer.forEach((H, g) => {
            const a = mass[l][g].subarray(0, prefix);
            const keep = evict.method === 'snapkv' ? snapkvSelect(a, evict.tokenBudget, evict.kernel) : h2oSelect(a, evict.tokenBudget);
            for (let t = prefix; t < n; t++) keep.push(t);
            // Rows still sit at their positions: nothing was removed before this point.
            H.pos = keep.slice();
            H.keys = keep.map((t) => H.keys[t]);
            H.values = keep.map((t) => H.values[t]);
            H.valueChannels = keep.map(() => null);
          }),
        );
      }
    }
    const keptTokens = evict ? cache.heads.map((layer) => layer.map((H) => H.pos.slice())) : null;

    // 2-4. ThinK over the survivors, value pruning of the same tokens, then KIVI.
    let kept: number[][][] | null = null;
    let scores: number[][][] | null = null;
    let keptValueChannels: number[][][] | null = null;
    let valueScores: number[][][] | null = null;
    if (think && qsq) {
      kept = [];
      scores = [];
      if (rho > 0) {
        keptValueChannels = [];
        valueScores = [];
      }
      const energy = rho > 0 ? this.outputEnergy() : null;
      for (let l = 0; l < c.layers; l++) {
        const ratio = Array.isArray(think.ratio) ? think.ratio[l] : think.ratio;
        const keep = d - Math.floor(ratio * d);
        const keptL: number[][] = [];
        const scoresL: number[][] = [];
        for (let g = 0; g < c.kvHeads; g++) {
          const H = cache.heads[l][g];
          const prunedCount = Math.max(0, H.keys.length - think.recent);
          const ksq = new Float64Array(d);
          for (let t = 0; t < prunedCount; t++) {
            const k = H.keys[t];
            for (let j = 0; j < d; j++) ksq[j] += k[j] ** 2;
          }
          const s = Array.from(qsq[l][g], (qv, j) => qv * ksq[j]);
          scoresL.push(s);
          keptL.push(selectKept(s, keep));
          let keptV: number[] | null = null;
          if (energy && mass && keptValueChannels && valueScores) {
            const rows = H.values.slice(0, prunedCount);
            const a = H.pos.slice(0, prunedCount).map((t) => mass[l][g][t]);
            const vs = valueChannelScores(rows, a, energy[l][g]);
            keptV = selectKept(vs, d - Math.floor(rho * d));
            (valueScores[l] ??= []).push(vs);
            (keptValueChannels[l] ??= []).push(keptV);
          }
          this.compress(H, prunedCount, keptL[g], keptV, cache.bits);
        }
        kept.push(keptL);
        scores.push(scoresL);
      }
      cache.kept = kept;
    }

    const ids: number[] = [];
    const stepLogits: Float64Array[] = [];
    for (;;) {
      const chosen = forced ? forced[ids.length] : argmax(logits!);
      ids.push(chosen);
      stepLogits.push(logits!);
      if (ids.length === steps) break;
      logits = this.step(chosen, n + ids.length - 1, cache, true, null, null);
      if (think && think.flush > 0 && cache.kept) {
        // Every head holds as many full rows (eviction removes the same count from each).
        const full = cache.heads[0][0].keys.length - cache.heads[0][0].compressed;
        if (full > think.flush)
          cache.heads.forEach((layer, l) =>
            layer.forEach((H, g) => this.compress(H, full - think.recent, cache.kept![l][g], keptValueChannels?.[l][g] ?? null, cache.bits)),
          );
      }
    }
    const H0 = cache.heads[0][0];
    return {
      ids,
      stepLogits,
      kept,
      scores,
      keptTokens,
      evictedTokens,
      windowMass: mass ? mass.map((layer) => layer.map((a) => Array.from(a))) : null,
      keptValueChannels,
      valueScores,
      compressedTokens: H0.compressed,
      quantizedTokens: H0.quantized,
      bytes: this.bytes(cache, keptValueChannels),
    };
  }

  /**
   * Moves the oldest `count` full rows of a head into its compressed store: key channels outside
   * `keptKeys` and value channels outside `keptValues` (null: all kept) become zeros, then every
   * newly completed group of 32 compressed rows is quantized.
   */
  private compress(H: RefHead, count: number, keptKeys: number[], keptValues: number[] | null, bits: 2 | 4 | null): void {
    for (let i = H.compressed; i < H.compressed + count; i++) {
      H.keys[i] = masked(H.keys[i], keptKeys);
      if (keptValues) {
        H.values[i] = masked(H.values[i], keptValues);
        H.valueChannels[i] = keptValues;
      }
    }
    H.compressed += count;
    if (!bits) return;
    const d = this.config.headDim;
    const all = Array.from({ length: d }, (_, j) => j);
    for (; H.quantized + KIVI_GROUP <= H.compressed; H.quantized += KIVI_GROUP) {
      const rows = Array.from({ length: KIVI_GROUP }, (_, r) => H.quantized + r);
      // Keys: per kept channel over the group's 32 tokens. (Every row is its own array: step() slices them.)
      for (const j of keptKeys) {
        const x = kiviDequantize(kiviQuantize(rows.map((i) => H.keys[i][j]), bits));
        rows.forEach((i, r) => (H.keys[i][j] = x[r]));
      }
      // Values: per token over its kept channels, in groups of valueGroupSize(C) channels.
      for (const i of rows) {
        const ch = H.valueChannels[i] ?? all;
        const gs = valueGroupSize(ch.length);
        for (let at = 0; at < ch.length; at += gs) {
          const part = ch.slice(at, at + gs);
          const x = kiviDequantize(kiviQuantize(part.map((j) => H.values[i][j]), bits));
          part.forEach((j, r) => (H.values[i][j] = x[r]));
        }
      }
    }
  }

  /** docs/compression.md "Bytes" for the cache as it stands. */
  private bytes(cache: RefCache, keptValues: number[][][] | null): RefBytes {
    const { layers, kvHeads, headDim: d } = this.config;
    const F32 = 4;
    const F16 = 2;
    const I64 = 8;
    const codeBytes = (C: number) => (cache.bits ? Math.ceil((C * cache.bits) / 8) : 0);
    let total = 0;
    cache.heads.forEach((layer, l) =>
      layer.forEach((H, g) => {
        const K = cache.kept ? cache.kept[l][g].length : d;
        if (cache.kept) total += K * I64;
        if (keptValues) total += keptValues[l][g].length * I64;
        for (let i = 0; i < H.keys.length; i++) {
          const Cv = H.valueChannels[i]?.length ?? d;
          if (i < H.quantized) {
            total += codeBytes(K) + codeBytes(Cv) + (Cv / valueGroupSize(Cv)) * 2 * F16;
          } else {
            total += (i < H.compressed ? K : d) * F32 + Cv * F32;
          }
        }
        // Per quantized key group: one float16 scale and one minimum per kept channel.
        total += (H.quantized / KIVI_GROUP) * K * 2 * F16;
      }),
    );
    const tokens = cache.heads[0][0].keys.length;
    return { total, tokens, perToken: total / tokens, fp16FullPerToken: layers * kvHeads * d * 2 * 2 };
  }
}
