// Rotary position embeddings in the Hugging Face rotate-half layout: channel i and channel
// i + D/2 form one rotated pair, both using frequency invFreq[i].
import type { Llama3Scaling, ModelConfig, YarnScaling } from '../model/config';

/**
 * Inverse frequencies [D/2]: theta^(-2i/D), then the configured rescaling (llama3, YaRN, or a
 * GGUF file's per-dimension factors).
 * Computed in float64; callers round once when they build float32 tables.
 */
export function ropeInvFreq(cfg: ModelConfig): Float64Array {
  const d = cfg.headDim;
  const half = d / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(cfg.ropeTheta, (2 * i) / d);
  const s = cfg.ropeScaling;
  if (s?.type === 'llama3') llama3Rescale(inv, s);
  if (s?.type === 'yarn') yarnRescale(inv, s, cfg.ropeTheta, d);
  if (s?.type === 'factors') for (let i = 0; i < half; i++) inv[i] /= s.factors[i];
  return inv;
}

/** What cos and sin are multiplied by: YaRN's attention factor (it scales q.k by its square), else 1. */
export function ropeAttentionFactor(cfg: ModelConfig): number {
  return cfg.ropeScaling?.type === 'yarn' ? cfg.ropeScaling.attentionFactor : 1;
}

/**
 * Llama 3.1 (transformers' _compute_llama3_parameters): long wavelengths are divided by `factor`,
 * short ones kept, the band between interpolated linearly in 1/wavelength.
 */
function llama3Rescale(inv: Float64Array, s: Llama3Scaling): void {
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < inv.length; i++) {
    const f = inv[i];
    const wavelen = (2 * Math.PI) / f;
    if (wavelen > lowFreqWavelen) {
      inv[i] = f / s.factor;
    } else if (wavelen >= highFreqWavelen) {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      inv[i] = ((1 - smooth) * f) / s.factor + smooth * f;
    }
    // wavelen < highFreqWavelen: high frequency, unchanged.
  }
}

/**
 * YaRN: dimensions that turn fewer than beta_slow times over the original context are interpolated
 * (divided by `factor`), those that turn more than beta_fast times are kept, with a linear ramp
 * between; the ramp's ends are the dimensions where those rotation counts fall.
 */
function yarnRescale(inv: Float64Array, s: YarnScaling, theta: number, d: number): void {
  // The dimension index at which a frequency makes `rotations` turns over the original context.
  const dimFor = (rotations: number) => (d * Math.log(s.originalMaxPositionEmbeddings / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = dimFor(s.betaFast);
  let high = dimFor(s.betaSlow);
  if (s.truncate) [low, high] = [Math.floor(low), Math.ceil(high)];
  low = Math.max(low, 0);
  high = Math.min(high, d - 1);
  if (low === high) high += 0.001; // no zero-width ramp
  for (let i = 0; i < inv.length; i++) {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    // ramp 0: kept (extrapolated) frequency; ramp 1: interpolated.
    inv[i] = (inv[i] / s.factor) * ramp + inv[i] * (1 - ramp);
  }
}

/**
 * cos/sin rows for the given positions, each [S, D] row-major, duplicated across the two halves
 * so that rotate-half is x*cos + rotate_half(x)*sin elementwise.
 */
export function ropeTables(cfg: ModelConfig, positions: ArrayLike<number>): { cos: Float32Array; sin: Float32Array } {
  const inv = ropeInvFreq(cfg);
  const scale = ropeAttentionFactor(cfg);
  const d = cfg.headDim;
  const half = d / 2;
  const n = positions.length;
  const cos = new Float32Array(n * d);
  const sin = new Float32Array(n * d);
  for (let s = 0; s < n; s++) {
    const p = positions[s];
    const row = s * d;
    for (let i = 0; i < half; i++) {
      const a = p * inv[i];
      const c = Math.cos(a) * scale;
      const sn = Math.sin(a) * scale;
      cos[row + i] = c;
      cos[row + i + half] = c;
      sin[row + i] = sn;
      sin[row + i + half] = sn;
    }
  }
  return { cos, sin };
}
