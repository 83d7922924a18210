// The test oracle: a plain float64 forward of Llama / Mistral / Qwen2 with ThinK, written for
// clarity rather than speed, one token at a time. It shares only the weight loader and the
// RoPE frequencies with the runtime, so engine tests compare two independent computations.
//
// ThinK semantics (../shared/models/README.md and docs/architecture.md):
// - the prompt (n tokens) is prefilled with full keys;
// - observation window: the last w = min(window, n) prompt positions, queries after RoPE;
// - per layer and KV head g: score_j = (sum over g's query heads and the window of q_j^2) x
//   (sum over the pruned prompt keys of k_j^2); keep the D - floor(ratio x D) highest, ties to
//   the lower channel index;
// - pruned tokens: prompt positions [0, n - recent); a pruned token's attention score uses only
//   its head's kept channels (the same as zero-filling the others);
// - flush: after a decode step, when the tokens holding full keys exceed `flush` (0 disables),
//   the oldest (full - recent) of them are pruned with their head's existing mask.
import type { ModelConfig } from '../../runtime/config';
import { ropeInvFreq } from '../../runtime/rope';
import { readTensor64, type ModelWeights, type TensorRef } from '../../runtime/weights';

export interface RefThink {
  ratio: number | number[];
  window: number;
  recent: number;
  flush: number;
}

export interface RefResult {
  ids: number[];
  /** logits that chose each generated id */
  stepLogits: Float64Array[];
  /** [layer][kvHead] ascending channel indices */
  kept: number[][][] | null;
  /** [layer][kvHead][channel] the scores ThinK ranked */
  scores: number[][][] | null;
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
  postNorm: Float64Array;
  gate: Float64Array;
  up: Float64Array;
  down: Float64Array;
}

/** Keys and values of every position so far, per layer: one [Hkv * D] row per token. */
interface RefCache {
  keys: Float64Array[][];
  values: Float64Array[][];
  /** Tokens [0, pruned) attend with kept channels only. */
  pruned: number;
  /** [layer][kvHead] kept channel indices, set once the prompt is scored. */
  kept: number[][][] | null;
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

export class ReferenceModel {
  readonly config: ModelConfig;
  private readonly embed: Float64Array;
  private readonly finalNorm: Float64Array;
  private readonly lmHead: Float64Array;
  private readonly layers: RefLayer[];
  private readonly invFreq: Float64Array;

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
      postNorm: readTensor64(l.postNorm),
      gate: readTensor64(l.gate),
      up: readTensor64(l.up),
      down: readTensor64(l.down),
    }));
    this.invFreq = ropeInvFreq(w.config);
  }

  /** Rotate-half RoPE of each D-sized head in `x`, in place. */
  private rope(x: Float64Array, heads: number, pos: number): void {
    const d = this.config.headDim;
    const half = d / 2;
    for (let h = 0; h < heads; h++) {
      const base = h * d;
      for (let i = 0; i < half; i++) {
        const a = pos * this.invFreq[i];
        const c = Math.cos(a);
        const s = Math.sin(a);
        const x1 = x[base + i];
        const x2 = x[base + i + half];
        x[base + i] = x1 * c - x2 * s;
        x[base + i + half] = x2 * c + x1 * s;
      }
    }
  }

  /**
   * One token through the model at position `pos`: appends its keys and values to the cache,
   * adds its post-RoPE q^2 into `qsq` ([layer][kvHead][D]) when given, and returns the logits
   * when asked (the prompt's earlier positions need none).
   */
  private step(id: number, pos: number, cache: RefCache, wantLogits: boolean, qsq: Float64Array[][] | null): Float64Array | null {
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
      this.rope(q, c.queryHeads, pos);
      this.rope(k, c.kvHeads, pos);
      const keys = cache.keys[l];
      const values = cache.values[l];
      keys.push(k);
      values.push(v);
      if (qsq) {
        for (let hq = 0; hq < c.queryHeads; hq++) {
          const acc = qsq[l][Math.floor(hq / group)];
          for (let j = 0; j < d; j++) acc[j] += q[hq * d + j] ** 2;
        }
      }
      const attn = new Float64Array(c.queryHeads * d);
      const T = keys.length;
      const scores = new Float64Array(T);
      for (let hq = 0; hq < c.queryHeads; hq++) {
        const g = Math.floor(hq / group);
        const qo = hq * d;
        const ko = g * d;
        const kept = cache.kept ? cache.kept[l][g] : null;
        let max = -Infinity;
        for (let t = 0; t < T; t++) {
          const kt = keys[t];
          let s = 0;
          if (kept && t < cache.pruned) for (const j of kept) s += q[qo + j] * kt[ko + j];
          else for (let j = 0; j < d; j++) s += q[qo + j] * kt[ko + j];
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
          const vt = values[t];
          for (let j = 0; j < d; j++) attn[qo + j] += p * vt[ko + j];
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

  greedy(promptIds: number[], steps: number, think: RefThink | null = null): RefResult {
    const c = this.config;
    const n = promptIds.length;
    if (n === 0) throw new Error('reference: empty prompt');
    for (const id of promptIds) if (!(Number.isInteger(id) && id >= 0 && id < c.vocabSize)) throw new Error(`reference: token id ${id} outside the vocabulary`);
    if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`reference: steps ${steps}`);
    if (n + steps - 1 > c.contextLength) throw new Error(`reference: ${n} + ${steps} tokens exceed the context (${c.contextLength})`);
    if (think) this.checkThink(think);

    const d = c.headDim;
    const cache: RefCache = { keys: [], values: [], pruned: 0, kept: null };
    for (let l = 0; l < c.layers; l++) {
      cache.keys.push([]);
      cache.values.push([]);
    }
    const qsq = think ? Array.from({ length: c.layers }, () => Array.from({ length: c.kvHeads }, () => new Float64Array(d))) : null;
    const windowStart = think ? n - Math.min(think.window, n) : n;

    let logits: Float64Array | null = null;
    for (let t = 0; t < n; t++) logits = this.step(promptIds[t], t, cache, t === n - 1, t >= windowStart ? qsq : null);

    let kept: number[][][] | null = null;
    let scores: number[][][] | null = null;
    if (think && qsq) {
      const prunedCount = Math.max(0, n - think.recent);
      kept = [];
      scores = [];
      for (let l = 0; l < c.layers; l++) {
        const ratio = Array.isArray(think.ratio) ? think.ratio[l] : think.ratio;
        const keep = d - Math.floor(ratio * d);
        const keptL: number[][] = [];
        const scoresL: number[][] = [];
        for (let g = 0; g < c.kvHeads; g++) {
          const ksq = new Float64Array(d);
          for (let t = 0; t < prunedCount; t++) {
            const k = cache.keys[l][t];
            for (let j = 0; j < d; j++) ksq[j] += k[g * d + j] ** 2;
          }
          const s = Array.from(qsq[l][g], (qv, j) => qv * ksq[j]);
          scoresL.push(s);
          keptL.push(selectKept(s, keep));
        }
        kept.push(keptL);
        scores.push(scoresL);
      }
      cache.kept = kept;
      cache.pruned = prunedCount;
    }

    const ids: number[] = [];
    const stepLogits: Float64Array[] = [];
    for (;;) {
      const chosen = argmax(logits!);
      ids.push(chosen);
      stepLogits.push(logits!);
      if (ids.length === steps) break;
      logits = this.step(chosen, n + ids.length - 1, cache, true, null);
      if (think && think.flush > 0) {
        const full = cache.keys[0].length - cache.pruned;
        if (full > think.flush) cache.pruned += full - think.recent;
      }
    }
    return { ids, stepLogits, kept, scores };
  }
}
