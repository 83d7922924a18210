// Rotary position embeddings in the Hugging Face rotate-half layout: channel i and channel
// i + D/2 form one rotated pair, both using frequency invFreq[i].
import type { ModelConfig } from '../model/config';

/**
 * Inverse frequencies [D/2]: theta^(-2i/D), then the llama3 rescaling when configured
 * (same rule as transformers' _compute_llama3_parameters: long wavelengths are divided by
 * `factor`, short ones kept, the band between interpolated linearly in 1/wavelength).
 * Computed in float64; callers round once when they build float32 tables.
 */
export function ropeInvFreq(cfg: ModelConfig): Float64Array {
  const d = cfg.headDim;
  const half = d / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(cfg.ropeTheta, (2 * i) / d);
  const s = cfg.ropeScaling;
  if (!s) return inv;
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < half; i++) {
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
  return inv;
}

/**
 * cos/sin rows for the given positions, each [S, D] row-major, duplicated across the two halves
 * so that rotate-half is x*cos + rotate_half(x)*sin elementwise.
 */
export function ropeTables(cfg: ModelConfig, positions: ArrayLike<number>): { cos: Float32Array; sin: Float32Array } {
  const inv = ropeInvFreq(cfg);
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
      const c = Math.cos(a);
      const sn = Math.sin(a);
      cos[row + i] = c;
      cos[row + i + half] = c;
      sin[row + i] = sn;
      sin[row + i + half] = sn;
    }
  }
  return { cos, sin };
}
