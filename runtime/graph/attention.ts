// Attention of one KV head over its cached tiers (see kvcache.ts); the new tokens' scores and
// values, shared by all KV heads, come from model.ts. Shapes: S new tokens, G query heads per KV head, D head_dim; the group's queries are
// [S, 1, G, D] (one slice of the layer's [S, Hkv, G, D]; matrix products against a cached tier
// read them as S*G rows). Tq quantized, Tc compact (kept channels), Tf full tokens.
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
  /** [S, 1, G, D] the group's queries after RoPE. */
  q: string;
  /** [S, 1, G, S] the group's causally masked scores among the new tokens (computed for all KV heads at once). */
  newScores: string;
  D: number;
}

/** What one KV head contributes; the new tokens' values are applied to every head's pNew at once. */
export interface HeadOutput {
  /** [S, 1, G, D] softmax-weighted sum of the cached values. */
  past: string;
  /** [S, 1, G, S] attention probabilities on the new tokens. */
  pNew: string;
}

/**
 * Shared pieces of both attention variants. Shape-derived tensors (split sizes, reshape targets)
 * are the same for every head of a layer, or of the whole graph, so each is built once, at its
 * first use, and reused: a CPU decode step then pays no per-head Shape/Concat chains (the GPU
 * graph's 2-D reshapes still build their targets per product; those run on the CPU, off the GPU's path).
 */
export class AttentionOps {
  private readonly memo = new Map<string, string>();
  constructor(
    private readonly g: GraphBuilder,
    private readonly D: number,
    /**
     * Products for onnxruntime's WebGPU provider, which has no FusedMatMul (it would run on the
     * CPU and pull the cache back every step) and whose MatMul crashes on a zero-length inner
     * dimension (an empty tier): the cached tiers go through 2-D Gemm, which does both. On CPU,
     * MLAS' FusedMatMul and MatMul are the measured-faster kernels.
     */
    private readonly gpu = false,
  ) {}

  /** q . k^T / sqrt(D) for the new tokens (batched over KV heads); on CPU k is read transposed in place. */
  scores(q: string, k: string): string {
    const alpha = 1 / Math.sqrt(this.D);
    if (!this.gpu) return this.g.op('FusedMatMul', [q, k], { transB: 1, alpha: { float: alpha } }, 'com.microsoft');
    const kT = this.g.op('Transpose', [k], { perm: [0, 2, 1] }); // the new tokens' keys only: a few rows
    return this.g.op('Mul', [this.g.op('MatMul', [q, kT]), this.g.constF32([alpha], [])]);
  }

  /** [S, 1, G, T] = q [S, 1, G, c] . k^T / sqrt(D) against a cached tier k [T, c]. */
  tierScores(q: string, k: string): string {
    if (!this.gpu) return this.scores(q, k);
    return this.unflatten(this.g.op('Gemm', [this.flatten(q), k], { transB: 1, alpha: { float: 1 / Math.sqrt(this.D) } }), q);
  }

  /** [S, 1, G, c] = p [S, 1, G, T] . v [T, c] for a cached tier. */
  tierProduct(p: string, v: string): string {
    if (!this.gpu) return this.g.op('MatMul', [p, v]);
    return this.unflatten(this.g.op('Gemm', [this.flatten(p), v]), p);
  }

  /** x [S, 1, G, n] -> [S*G, n] (Flatten needs no shape arithmetic and keeps n = 0, an empty tier). */
  private flatten(x: string): string {
    return this.g.op('Flatten', [x], { axis: 3 });
  }

  /** y [S*G, m] -> [S, 1, G, m], the leading dims taken from `like` [S, 1, G, n]. */
  private unflatten(y: string, like: string): string {
    const g = this.g;
    const lead = this.once('S,1,G', () => g.op('Shape', [like], { start: 0, end: 3 }));
    return g.op('Reshape', [y, g.op('Concat', [lead, g.op('Shape', [y], { start: -1 })], { axis: 0 })], { allowzero: 1 });
  }

  /** The value `build` makes, built the first time `key` is asked for. */
  once(key: string, build: () => string): string {
    let value = this.memo.get(key);
    if (value === undefined) {
      value = build();
      this.memo.set(key, value);
    }
    return value;
  }

  /** int64 [1]: the first dimension of x. */
  rows(x: string): string {
    return this.g.op('Shape', [x], { start: 0, end: 1 });
  }

  /** int64 [1]: S, the new tokens' count (the last axis of the new scores). */
  newTokens(h: HeadInputs): string {
    return this.g.op('Shape', [h.newScores], { start: -1 });
  }

  /** Splits P [S, 1, G, T] along its last axis into slices of the given widths (int64 [n]). */
  split(p: string, sizes: string, n: number): string[] {
    return this.g.opN('Split', [p, sizes], n, { axis: -1 });
  }
}

/**
 * Plain ThinK: scores = [q[:, ki] . kp^T | q . kf^T | q . knew^T + mask], softmax, then
 * P[:, :T] . v here and P[:, T:] . vnew by the caller (no concatenation, so no copy, of the past values).
 */
export function thinkAttention(g: GraphBuilder, ops: AttentionOps, h: HeadInputs, l: number, kv: number): HeadOutput {
  const kp = g.input(cacheInput.prunedKeys(l, kv), 'float', ['Tc', `kept${l}`]);
  const ki = g.input(cacheInput.keptIndex(l, kv), 'int64', [`kept${l}`]);
  const kf = g.input(cacheInput.fullKeys(l, kv), 'float', ['Tf', h.D]);
  const vPast = g.input(cacheInput.values(l, kv), 'float', ['T', h.D]);
  // A pruned token's score uses only its kept channels: q[:, kept] . kp^T (= zero-filling the rest).
  const sPruned = ops.tierScores(g.op('Gather', [h.q, ki], { axis: -1 }), kp); // [S, 1, G, Tc]
  const sFull = ops.tierScores(h.q, kf); // [S, 1, G, Tf]
  const p = g.op('Softmax', [g.op('Concat', [sPruned, sFull, h.newScores], { axis: -1 })], { axis: -1 }); // [S, 1, G, T + S]
  // T and S are the same for every layer and head.
  const sizes = ops.once('T,S', () => g.op('Concat', [ops.rows(vPast), ops.newTokens(h)], { axis: 0 }));
  const [pPast, pNew] = ops.split(p, sizes, 2);
  return { past: ops.tierProduct(pPast, vPast), pNew }; // [S, 1, G, D]
}

/** KIVI's code packing: `shift` uint8 [8/b] and `mask` uint8 [] describe b-bit fields in a byte. */
export interface Packing {
  shift: string;
  mask: string;
}

/**
 * Compressed tiers: compact values carry only their kept channels and go back to D channels through
 * a one-hot [keptV, D]; with `packing`, a KIVI tier too, whose codes are unpacked and dequantized in
 * the graph (x̂ = q s + m). Without it the graph has no KIVI inputs at all: onnxruntime's WebGPU
 * provider has no bit operations, so even an empty KIVI tier would bounce each head through the CPU.
 */
export function compressedAttention(g: GraphBuilder, ops: AttentionOps, h: HeadInputs, l: number, kv: number, packing: Packing | null): HeadOutput {
  const D = h.D;
  const kp = g.input(cacheInput.prunedKeys(l, kv), 'float', ['Tc', `kept${l}`]);
  const ki = g.input(cacheInput.keptIndex(l, kv), 'int64', [`kept${l}`]);
  const kf = g.input(cacheInput.fullKeys(l, kv), 'float', ['Tf', D]);
  const vc = g.input(cacheInput.compactValues(l, kv), 'float', ['Tc', `keptv${l}`]);
  const vsel = g.input(cacheInput.valueSelect(l, kv), 'float', [`keptv${l}`, D]);
  const vf = g.input(cacheInput.values(l, kv), 'float', ['Tf', D]);

  const qKept = g.op('Gather', [h.q, ki], { axis: -1 }); // [S, 1, G, kept]
  const tiers = [{ keys: kp, values: vc, q: qKept }];
  if (packing) tiers.unshift({ ...kiviTier(g, ops, l, kv, packing, ki, vsel), q: qKept });
  const s = g.op('Concat', [...tiers.map((t) => ops.tierScores(t.q, t.keys)), ops.tierScores(h.q, kf), h.newScores], { axis: -1 });
  const p = g.op('Softmax', [s], { axis: -1 }); // [S, 1, G, (Tq) + Tc + Tf + S]
  const sizes = ops.once(packing ? 'Tq,Tc,Tf,S' : 'Tc,Tf,S', () => g.op('Concat', [...tiers.map((t) => ops.rows(t.values)), ops.rows(vf), ops.newTokens(h)], { axis: 0 }));
  const parts = ops.split(p, sizes, tiers.length + 2);
  const compact = tiers.map((t, i) => ops.tierProduct(parts[i], t.values)).reduce((a, b) => g.op('Add', [a, b]));
  const compressedOut = g.op('MatMul', [compact, vsel]); // [S, 1, G, D]
  return { past: g.op('Add', [compressedOut, ops.tierProduct(parts[tiers.length], vf)]), pNew: parts[tiers.length + 1] };
}

/** KIVI's tier of layer l, head kv, dequantized: keys [Tq, kept] and values [Tq, keptV]. */
function kiviTier(g: GraphBuilder, ops: AttentionOps, l: number, kv: number, packing: Packing, ki: string, vsel: string): { keys: string; values: string } {
  const kq = g.input(cacheInput.keyCodes(l, kv), 'uint8', ['Tq', `kqb${l}`]);
  const ks = g.input(cacheInput.keyScales(l, kv), 'float16', ['Tq32', `kept${l}`]);
  const km = g.input(cacheInput.keyMins(l, kv), 'float16', ['Tq32', `kept${l}`]);
  const vq = g.input(cacheInput.valueCodes(l, kv), 'uint8', ['Tq', `vqb${l}`]);
  const vs = g.input(cacheInput.valueScales(l, kv), 'float16', ['Tq', `vg${l}`]);
  const vm = g.input(cacheInput.valueMins(l, kv), 'float16', ['Tq', `vg${l}`]);

  // Tier lengths are the same for the whole graph, channel counts and code widths for a layer's heads.
  const perLayer = (name: string, build: () => string) => ops.once(`${name}.${l}`, build);
  const Tq = ops.once('Tq', () => ops.rows(kq));
  const kept = perLayer('kept', () => g.op('Shape', [ki]));
  const keptV = perLayer('keptV', () => g.op('Shape', [vsel], { start: 0, end: 1 }));

  const f32 = (x: string) => g.op('Cast', [x], { to: 1 });
  /**
   * codes [T, B] -> float codes [...rows, C] (C = channels, rows: int64 leading dims whose product
   * is T), b-bit fields lowest first.
   */
  const unpack = (codes: string, channels: string, rows: string, kind: string): string => {
    const fields = g.op('BitwiseAnd', [g.op('BitShift', [g.op('Unsqueeze', [codes, g.constI64([-1])]), packing.shift], { direction: 'RIGHT' }), packing.mask]); // [T, B, 8/b]
    const target = perLayer(`${kind}.unpacked`, () => {
      const width = g.op('Mul', [g.op('Shape', [codes], { start: 1, end: 2 }), g.op('Shape', [packing.shift])]);
      return g.op('Concat', [rows, width], { axis: 0 });
    });
    return f32(g.op('Slice', [g.op('Reshape', [fields, target]), g.constI64([0]), channels, g.constI64([-1])])); // [...rows, C]
  };

  // Keys: per channel over groups of 32 tokens.
  const kRows = perLayer('kRows', () => g.op('Concat', [g.constI64([-1]), kept], { axis: 0 }));
  const kCodes = unpack(kq, kept, g.constI64([-1, 32]), 'k'); // [Tq/32, 32, kept]
  const kHat = g.op('Add', [g.op('Mul', [kCodes, g.op('Unsqueeze', [f32(ks), g.constI64([1])])]), g.op('Unsqueeze', [f32(km), g.constI64([1])])]);
  const keys = g.op('Reshape', [kHat, kRows]); // [Tq, kept]

  // Values: per token over groups of g channels.
  const vGroups = perLayer('vGroups', () => {
    const groupsPerRow = g.op('Shape', [vs], { start: 1, end: 2 });
    return g.op('Concat', [g.constI64([-1]), groupsPerRow, g.op('Div', [keptV, groupsPerRow])], { axis: 0 });
  });
  const vRows = perLayer('vRows', () => g.op('Concat', [g.constI64([-1]), keptV], { axis: 0 }));
  const vCodes = g.op('Reshape', [unpack(vq, keptV, Tq, 'v'), vGroups]); // [Tq, groups, g]
  const vHat = g.op('Add', [g.op('Mul', [vCodes, g.op('Unsqueeze', [f32(vs), g.constI64([-1])])]), g.op('Unsqueeze', [f32(vm), g.constI64([-1])])]);
  return { keys, values: g.op('Reshape', [vHat, vRows]) }; // [Tq, kept], [Tq, keptV]
}
