// Attention of one KV head over the cache tiers (see kvcache.ts) and the new tokens.
// Shapes: S new tokens, G query heads per KV head, D head_dim; the group's queries are flattened
// to [G*S, D]. Tq quantized, Tc compact (kept channels), Tf full tokens.
import type { GraphBuilder } from './onnx';

/** Names of the graph's per-layer, per-KV-head cache inputs. */
export const cacheInput = {
  prunedKeys: (l: number, h: number) => `kp.${l}.${h}`, // [Tc, kept_l]
  keptIndex: (l: number, h: number) => `ki.${l}.${h}`, // int64 [kept_l]
  fullKeys: (l: number, h: number) => `kf.${l}.${h}`, // [Tf, D]
  values: (l: number, h: number) => `v.${l}.${h}`, // plain: [Tc + Tf, D]; compressed: [Tf, D]
  // compressed layout only
  compactValues: (l: number, h: number) => `vc.${l}.${h}`, // [Tc, keptV]
  valueSelect: (l: number, h: number) => `vsel.${l}.${h}`, // [keptV, D] one-hot
  keyCodes: (l: number, h: number) => `kq.${l}.${h}`, // uint8 [Tq, ceil(kept b / 8)]
  keyScales: (l: number, h: number) => `ks.${l}.${h}`, // float16 [Tq / 32, kept]
  keyMins: (l: number, h: number) => `km.${l}.${h}`, // float16 [Tq / 32, kept]
  valueCodes: (l: number, h: number) => `vq.${l}.${h}`, // uint8 [Tq, ceil(keptV b / 8)]
  valueScales: (l: number, h: number) => `vs.${l}.${h}`, // float16 [Tq, keptV / g]
  valueMins: (l: number, h: number) => `vm.${l}.${h}`, // float16 [Tq, keptV / g]
};

export interface HeadInputs {
  /** [G*S, D] the group's queries after RoPE. */
  q: string;
  /** [S, D] the new tokens' key (after RoPE) and value for this head. */
  kNew: string;
  vNew: string;
  /** [S, S] additive causal mask. */
  causalMask: string;
  G: number;
  D: number;
}

/** Shared pieces of both attention variants. */
export class AttentionOps {
  readonly zero: string;
  readonly end: string;
  constructor(
    private readonly g: GraphBuilder,
    private readonly D: number,
  ) {
    this.zero = g.constI64([0]);
    this.end = g.constI64([2 ** 62]);
  }

  /** q . k^T / sqrt(D), k read transposed in place. */
  scores(q: string, k: string): string {
    return this.g.op('FusedMatMul', [q, k], { transB: 1, alpha: { float: 1 / Math.sqrt(this.D) } }, 'com.microsoft');
  }

  /** [G*S, S] scores among the new tokens, causally masked. */
  newScores(h: HeadInputs): string {
    const g = this.g;
    const flat = this.scores(h.q, h.kNew); // [G*S, S]
    const byGroup = g.op('Concat', [g.constI64([h.G, -1]), g.op('Shape', [flat], { start: 1 })], { axis: 0 });
    const masked = g.op('Add', [g.op('Reshape', [flat, byGroup]), h.causalMask]); // [G, S, S]
    return g.op('Reshape', [masked, g.constI64([-1, 0])]); // [G*S, S]
  }

  /** Splits P [G*S, T] at the given column counts (int64 [1] each) into consecutive slices. */
  split(p: string, sizes: string[]): string[] {
    const g = this.g;
    let start = this.zero;
    return sizes.map((size, i) => {
      const stop = i === sizes.length - 1 ? this.end : g.op('Add', [start, size]);
      const part = g.op('Slice', [p, start, stop, g.constI64([1])]);
      start = stop;
      return part;
    });
  }

  rows(x: string): string {
    return this.g.op('Shape', [x], { start: 0, end: 1 });
  }

  /** [G*S, D] -> [G, S, D] */
  byGroup(o: string, G: number): string {
    return this.g.op('Reshape', [o, this.g.constI64([G, -1, this.D])]);
  }
}

/**
 * Plain ThinK: scores = [q[:, ki] . kp^T | q . kf^T | q . knew^T + mask], softmax, then
 * P[:, :T] . v + P[:, T:] . vnew (no concatenation, so no copy, of the past values).
 */
export function thinkAttention(g: GraphBuilder, ops: AttentionOps, h: HeadInputs, l: number, kv: number): string {
  const kp = g.input(cacheInput.prunedKeys(l, kv), 'float', ['Tc', `kept${l}`]);
  const ki = g.input(cacheInput.keptIndex(l, kv), 'int64', [`kept${l}`]);
  const kf = g.input(cacheInput.fullKeys(l, kv), 'float', ['Tf', h.D]);
  const vPast = g.input(cacheInput.values(l, kv), 'float', ['T', h.D]);
  // A pruned token's score uses only its kept channels: q[:, kept] . kp^T (= zero-filling the rest).
  const sPruned = ops.scores(g.op('Gather', [h.q, ki], { axis: 1 }), kp); // [G*S, Tc]
  const sFull = ops.scores(h.q, kf); // [G*S, Tf]
  const p = g.op('Softmax', [g.op('Concat', [sPruned, sFull, ops.newScores(h)], { axis: 1 })], { axis: -1 }); // [G*S, T + S]
  const [pPast, pNew] = ops.split(p, [ops.rows(vPast), ops.rows(h.vNew)]);
  return ops.byGroup(g.op('Add', [g.op('MatMul', [pPast, vPast]), g.op('MatMul', [pNew, h.vNew])]), h.G);
}

/**
 * Compressed tiers: KIVI codes are unpacked and dequantized in the graph (x̂ = q s + m), compact
 * values carry only their kept channels and go back to D channels through a one-hot [keptV, D].
 * `shift` uint8 [8/b] and `mask` uint8 [] describe the packing of b-bit codes.
 */
export function compressedAttention(
  g: GraphBuilder, ops: AttentionOps, h: HeadInputs, l: number, kv: number, packing: { shift: string; mask: string },
): string {
  const D = h.D;
  const kq = g.input(cacheInput.keyCodes(l, kv), 'uint8', ['Tq', `kqb${l}`]);
  const ks = g.input(cacheInput.keyScales(l, kv), 'float16', ['Tq32', `kept${l}`]);
  const km = g.input(cacheInput.keyMins(l, kv), 'float16', ['Tq32', `kept${l}`]);
  const kp = g.input(cacheInput.prunedKeys(l, kv), 'float', ['Tc', `kept${l}`]);
  const ki = g.input(cacheInput.keptIndex(l, kv), 'int64', [`kept${l}`]);
  const kf = g.input(cacheInput.fullKeys(l, kv), 'float', ['Tf', D]);
  const vq = g.input(cacheInput.valueCodes(l, kv), 'uint8', ['Tq', `vqb${l}`]);
  const vs = g.input(cacheInput.valueScales(l, kv), 'float16', ['Tq', `vg${l}`]);
  const vm = g.input(cacheInput.valueMins(l, kv), 'float16', ['Tq', `vg${l}`]);
  const vc = g.input(cacheInput.compactValues(l, kv), 'float', ['Tc', `keptv${l}`]);
  const vsel = g.input(cacheInput.valueSelect(l, kv), 'float', [`keptv${l}`, D]);
  const vf = g.input(cacheInput.values(l, kv), 'float', ['Tf', D]);

  const f32 = (x: string) => g.op('Cast', [x], { to: 1 });
  /** codes [T, B] -> float codes [T, C] (C = channels), b-bit fields lowest first. */
  const unpack = (codes: string, channels: string): string => {
    const fields = g.op('BitwiseAnd', [g.op('BitShift', [g.op('Unsqueeze', [codes, g.constI64([-1])]), packing.shift], { direction: 'RIGHT' }), packing.mask]); // [T, B, 8/b]
    // Explicit target shape: Reshape cannot infer -1 when T = 0 (an empty tier).
    const width = g.op('Mul', [g.op('Shape', [codes], { start: 1, end: 2 }), g.op('Shape', [packing.shift])]);
    const flat = g.op('Reshape', [fields, g.op('Concat', [g.op('Shape', [codes], { start: 0, end: 1 }), width], { axis: 0 })]); // [T, B * 8/b]
    return f32(g.op('Slice', [flat, ops.zero, channels, g.constI64([1])])); // [T, C]
  };
  const kept = g.op('Shape', [ki]);
  const keptV = g.op('Shape', [vsel], { start: 0, end: 1 });

  // Keys: per channel over groups of 32 tokens.
  const kCodes = g.op('Reshape', [unpack(kq, kept), g.op('Concat', [g.constI64([-1, 32]), kept], { axis: 0 })]); // [Tq/32, 32, kept]
  const kHat = g.op('Add', [g.op('Mul', [kCodes, g.op('Unsqueeze', [f32(ks), g.constI64([1])])]), g.op('Unsqueeze', [f32(km), g.constI64([1])])]);
  const kQuant = g.op('Reshape', [kHat, g.op('Concat', [g.constI64([-1]), kept], { axis: 0 })]); // [Tq, kept]

  // Values: per token over groups of g channels.
  const groupsPerRow = g.op('Shape', [vs], { start: 1, end: 2 });
  const groupSize = g.op('Div', [keptV, groupsPerRow]);
  const vCodes = g.op('Reshape', [unpack(vq, keptV), g.op('Concat', [g.constI64([-1]), groupsPerRow, groupSize], { axis: 0 })]); // [Tq, groups, g]
  const vHat = g.op('Add', [g.op('Mul', [vCodes, g.op('Unsqueeze', [f32(vs), g.constI64([-1])])]), g.op('Unsqueeze', [f32(vm), g.constI64([-1])])]);
  const vQuant = g.op('Reshape', [vHat, g.op('Concat', [g.constI64([-1]), keptV], { axis: 0 })]); // [Tq, keptV]

  const qKept = g.op('Gather', [h.q, ki], { axis: 1 }); // [G*S, kept]
  const s = g.op('Concat', [ops.scores(qKept, kQuant), ops.scores(qKept, kp), ops.scores(h.q, kf), ops.newScores(h)], { axis: 1 });
  const p = g.op('Softmax', [s], { axis: -1 }); // [G*S, Tq + Tc + Tf + S]
  const [pq, pc, pf, pn] = ops.split(p, [ops.rows(vq), ops.rows(vc), ops.rows(vf), ops.rows(h.vNew)]);
  const compressedOut = g.op('MatMul', [g.op('Add', [g.op('MatMul', [pq, vQuant]), g.op('MatMul', [pc, vc])]), vsel]); // [G*S, D]
  const o = g.op('Add', [compressedOut, g.op('Add', [g.op('MatMul', [pf, vf]), g.op('MatMul', [pn, h.vNew])])]);
  return ops.byGroup(o, h.G);
}
