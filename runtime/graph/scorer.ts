// A small weight-free graph, run once after prefill: the observation window's attention mass on
// every cached token, per layer and KV head (docs/compression.md §1), for token eviction and
// value-channel scores. Shapes: w window rows, n cached tokens, G query heads per KV head.
//   a[t] = sum over the group's heads and the window rows of softmax(q . k^T / sqrt(D) + mask)[t]
import type { ModelConfig } from '../model/config';
import { GraphBuilder } from './onnx';

export const scorerInput = {
  windowQueries: (l: number) => `qw.${l}`, // [Hq, w, D]
  keys: (l: number, h: number) => `k.${l}.${h}`, // [n, D]
};
export const scorerOutput = (l: number, h: number) => `a.${l}.${h}`; // [n]

export function buildScorerGraph(c: ModelConfig): Uint8Array {
  const g = new GraphBuilder();
  const { headDim: D, queryHeads: Hq, kvHeads: Hkv } = c;
  const G = Hq / Hkv;
  const mask = g.input('mask', 'float', ['w', 'n']); // 0 / -inf: window row r sees tokens up to its position
  for (let l = 0; l < c.layers; l++) {
    const qw = g.input(scorerInput.windowQueries(l), 'float', [Hq, 'w', D]);
    for (let kv = 0; kv < Hkv; kv++) {
      const k = g.input(scorerInput.keys(l, kv), 'float', ['n', D]);
      const q = g.op('Reshape', [g.op('Slice', [qw, g.constI64([kv * G]), g.constI64([(kv + 1) * G]), g.constI64([0])]), g.constI64([-1, D])]); // [G*w, D]
      const scores = g.op('FusedMatMul', [q, k], { transB: 1, alpha: { float: 1 / Math.sqrt(D) } }, 'com.microsoft'); // [G*w, n]; runs on the CPU
      const s = g.op('Reshape', [scores, g.op('Concat', [g.constI64([G]), g.op('Shape', [mask])], { axis: 0 })]); // [G, w, n]
      const p = g.op('Softmax', [g.op('Add', [s, mask])], { axis: -1 });
      g.output(scorerOutput(l, kv), g.op('ReduceSum', [p, g.constI64([0, 1])], { keepdims: 0 }), 'float', ['n']);
    }
  }
  return g.toBytes('think-lens-window-attention');
}
