// Value-channel pruning (ours, docs/compression.md §3). Channel j of a compressed token reaches the
// layer's output only through attention-weighted v_{t,j} and the columns of W_o that read it, so
//   s_j = (sum over the group's query heads i of ||W_o[:, i D + j]||^2) x (sum over t of a_t v_{t,j}^2)
// where a_t is the observation window's attention mass on token t: query-driven like ThinK's key
// score, and aware of how much the output projection amplifies each channel.
import { readTensor, type TensorRef } from '../model/weights';

/** Per KV head [Hkv][D]: sum over the group's query heads of squared W_o column norms. */
export function outputColumnEnergy(o: TensorRef, queryHeads: number, kvHeads: number, D: number): Float64Array[] {
  const W = readTensor(o); // [hidden, Hq * D]
  const [rows, cols] = o.shape;
  const col = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) col[c] += W[r * cols + c] * W[r * cols + c];
  const G = queryHeads / kvHeads;
  return Array.from({ length: kvHeads }, (_, g) => {
    const e = new Float64Array(D);
    for (let i = g * G; i < (g + 1) * G; i++) for (let j = 0; j < D; j++) e[j] += col[i * D + j];
    return e;
  });
}

/** s_j for `rows` values [rows, D] with window attention mass [rows]. */
export function valueScores(values: Float32Array, mass: ArrayLike<number>, rows: number, energy: Float64Array): Float64Array {
  const D = energy.length;
  const s = new Float64Array(D);
  for (let t = 0; t < rows; t++) for (let j = 0; j < D; j++) s[j] += mass[t] * values[t * D + j] * values[t * D + j];
  for (let j = 0; j < D; j++) s[j] *= energy[j];
  return s;
}
