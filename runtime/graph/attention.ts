// Attention of one layer over its cached tiers (kvcache.ts) and the new tokens, all KV heads at
// once. Shapes: S new tokens, G query heads per KV head, D head_dim; the queries are
// [Hkv, G, S, D] and every tier is a head-major [Hkv, 1, T, c] input, so each product is one
// batched MatMul per layer whose batches are the heads (a decode step's are single rows, which
// MLAS multiplies without repacking the cache). Tq quantized, Tc compact (kept channels), Tf full.
import type { CachePrecision } from '../../core/protocol/settings';
import type { GraphBuilder } from './onnx';

/** Names of the graph's per-layer cache inputs. */
export const cacheInput = {
  prunedKeys: (l: number) => `kp.${l}`, // [Hkv, 1, Tc, kept_l]
  keptIndex: (l: number) => `ki.${l}`, // int64 [Hkv, 1, 1, kept_l]
  fullKeys: (l: number) => `kf.${l}`, // [Hkv, 1, Tf, D]
  values: (l: number) => `vf.${l}`, // [Hkv, 1, Tf, D]: the full tier's values
  compactValues: (l: number) => `vc.${l}`, // [Hkv, 1, Tc, keptV_l]
  // compressed layout only
  valueSelect: (l: number) => `vsel.${l}`, // float32 [Hkv, 1, keptV_l, D] one-hot
  keyCodes: (l: number) => `kq.${l}`, // uint8 [Hkv, Tq, ceil(kept b / 8)]
  keyScales: (l: number) => `ks.${l}`, // float16 [Hkv, Tq / 32, kept]
  keyMins: (l: number) => `km.${l}`, // float16 [Hkv, Tq / 32, kept]
  valueCodes: (l: number) => `vq.${l}`, // uint8 [Hkv, Tq, ceil(keptV b / 8)]
  valueScales: (l: number) => `vs.${l}`, // float16 [Hkv, Tq, keptV / g]
  valueMins: (l: number) => `vm.${l}`, // float16 [Hkv, Tq, keptV / g]
};

export interface LayerInputs {
  /** [Hkv, G, S, D] the layer's queries after RoPE, already scaled by 1/sqrt(D). */
  q: string;
  /** [Hkv, 1, S, D] the new tokens' keys (after RoPE) and values. */
  kNew: string;
  vNew: string;
  /** [1, 1, S, S] 0 / -inf: which new tokens a new token may attend. */
  mask: string;
  D: number;
}

/** KIVI's code packing: `shift` uint8 [8/b] and `mask` uint8 [] describe b-bit fields in a byte. */
export interface Packing {
  shift: string;
  mask: string;
}

export interface CacheGraph {
  /** Value channels may be pruned: compact values go back to D channels through `vsel`. */
  compressed: boolean;
  /** KIVI's tier, unpacked in the graph (null: the graph has no KIVI inputs at all). */
  packing: Packing | null;
  /** The float tiers' element type. */
  precision: CachePrecision;
}

/**
 * The products against the cache, and shape-derived tensors built once per graph or layer and
 * reused (a decode step then pays no per-layer Shape/Concat chains). On onnxruntime's WebGPU
 * provider, which has no FusedMatMul (it would run on the CPU and pull the cache back every step)
 * and whose MatMul crashes on a zero-length inner dimension (an empty tier), the tier products are
 * 2-D Gemm per head instead; on CPU, MLAS' batched FusedMatMul and MatMul are the fast kernels.
 */
export class AttentionOps {
  private readonly memo = new Map<string, string>();
  constructor(
    private readonly g: GraphBuilder,
    private readonly Hkv: number,
    private readonly gpu = false,
  ) {}

  /** [Hkv, G, S, T] = q [Hkv, G, S, c] . k^T for k [Hkv, 1, T, c]. */
  scores(q: string, k: string): string {
    const g = this.g;
    if (!this.gpu) return g.op('FusedMatMul', [q, k], { transB: 1 }, 'com.microsoft');
    return this.perHead(q, k, (qh, kh) => g.op('Gemm', [qh, kh], { transB: 1 }));
  }

  /** [Hkv, G, S, c] = p [Hkv, G, S, T] . v for v [Hkv, 1, T, c]. */
  product(p: string, v: string): string {
    if (!this.gpu) return this.g.op('MatMul', [p, v]);
    return this.perHead(p, v, (ph, vh) => this.g.op('Gemm', [ph, vh]));
  }

  /**
   * [Hkv, G, S, kept]: each head's queries on its kept channels, ki int64 [Hkv, 1, 1, kept]. On CPU one
   * GatherElements; on GPU a Gather per head (WebGPU has no int64 Expand, which would pull q back).
   */
  keptQueries(q: string, ki: string): string {
    const g = this.g;
    if (!this.gpu) {
      const shape = g.op('Concat', [this.once('Hkv,G,S', () => g.op('Shape', [q], { start: 0, end: 3 })), g.op('Shape', [ki], { start: 3 })], { axis: 0 });
      return g.op('GatherElements', [q, g.op('Expand', [ki, shape])], { axis: 3 });
    }
    const qs = g.opN('Split', [q], this.Hkv, { axis: 0, num_outputs: this.Hkv });
    const ks = g.opN('Split', [ki], this.Hkv, { axis: 0, num_outputs: this.Hkv });
    const heads = qs.map((qh, h) => g.op('Gather', [qh, g.op('Reshape', [ks[h], g.constI64([-1])])], { axis: 3 }));
    return heads.length === 1 ? heads[0] : g.op('Concat', heads, { axis: 0 });
  }

  /** GPU: one 2-D product per head, x [Hkv, G, S, n] with y [Hkv, 1, m, k], back to [Hkv, G, S, *]. */
  private perHead(x: string, y: string, product: (x2: string, y2: string) => string): string {
    const g = this.g;
    const xs = g.opN('Split', [x], this.Hkv, { axis: 0, num_outputs: this.Hkv });
    const ys = g.opN('Split', [y], this.Hkv, { axis: 0, num_outputs: this.Hkv });
    const lead = this.once('1,G,S', () => g.op('Shape', [x], { start: 1, end: 3 }));
    const heads = xs.map((xh, h) => {
      // Flatten needs no shape arithmetic and keeps an empty tier's zero rows.
      const out = product(g.op('Flatten', [xh], { axis: 3 }), g.op('Flatten', [ys[h]], { axis: 3 })); // [G*S, *]
      const target = g.op('Concat', [g.constI64([1]), lead, g.op('Shape', [out], { start: -1 })], { axis: 0 });
      return g.op('Reshape', [out, target], { allowzero: 1 });
    });
    return heads.length === 1 ? heads[0] : g.op('Concat', heads, { axis: 0 });
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

  /** int64 [1]: a tier's token count (axis 2 of [Hkv, 1, T, c]). */
  tokens(x: string): string {
    return this.g.op('Shape', [x], { start: 2, end: 3 });
  }
}

/**
 * ThinK attention of layer l: scores = [q[kept] . kq^T | q[kept] . kc^T | q . kf^T | q . knew^T + mask],
 * softmax, then the probabilities times each tier's values (compact values through their one-hot
 * when value channels are pruned). A compressed token's score uses only its head's kept channels
 * (= zero-filling the rest). Returns [Hkv, G, S, D].
 */
export function layerAttention(g: GraphBuilder, ops: AttentionOps, x: LayerInputs, l: number, c: CacheGraph): string {
  const D = x.D;
  const floats = (name: string, dims: (string | number)[]) => {
    const input = g.input(name, c.precision === 'float16' ? 'float16' : 'float', ['Hkv', 1, ...dims]);
    return c.precision === 'float16' ? g.op('Cast', [input], { to: 1 }) : input; // widened where the kernels compute
  };
  const kp = floats(cacheInput.prunedKeys(l), ['Tc', `kept${l}`]);
  const ki = g.input(cacheInput.keptIndex(l), 'int64', ['Hkv', 1, 1, `kept${l}`]);
  const kf = floats(cacheInput.fullKeys(l), ['Tf', D]);
  const vf = floats(cacheInput.values(l), ['Tf', D]);
  const vc = floats(cacheInput.compactValues(l), ['Tc', `keptv${l}`]);

  const qKept = ops.keptQueries(x.q, ki); // [Hkv, G, S, kept]
  const tiers = [{ keys: kp, values: vc }];
  if (c.packing) tiers.unshift(kiviTier(g, l, c.packing, ki, vc));
  const newScores = g.op('Add', [ops.scores(x.q, x.kNew), x.mask]); // [Hkv, G, S, S]
  const s = g.op('Concat', [...tiers.map((t) => ops.scores(qKept, t.keys)), ops.scores(x.q, kf), newScores], { axis: -1 });
  const p = g.op('Softmax', [s], { axis: -1 }); // [Hkv, G, S, (Tq) + Tc + Tf + S]
  // Tier lengths are the same for every layer.
  const sizes = ops.once(c.packing ? 'Tq,Tc,Tf,S' : 'Tc,Tf,S', () => g.op('Concat', [...tiers.map((t) => ops.tokens(t.values)), ops.tokens(vf), ops.tokens(x.kNew)], { axis: 0 }));
  const parts = g.opN('Split', [p, sizes], tiers.length + 2, { axis: -1 });
  let compact = tiers.map((t, i) => ops.product(parts[i], t.values)).reduce((a, b) => g.op('Add', [a, b])); // [Hkv, G, S, keptV]
  if (c.compressed) compact = g.op('MatMul', [compact, g.input(cacheInput.valueSelect(l), 'float', ['Hkv', 1, `keptv${l}`, D])]);
  const recent = g.op('Add', [ops.product(parts[tiers.length], vf), g.op('MatMul', [parts[tiers.length + 1], x.vNew])]);
  return g.op('Add', [compact, recent]); // [Hkv, G, S, D]
}

/** KIVI's tier of layer l, dequantized: keys [Hkv, 1, Tq, kept] and values [Hkv, 1, Tq, keptV]. */
function kiviTier(g: GraphBuilder, l: number, packing: Packing, ki: string, vc: string): { keys: string; values: string } {
  const kq = g.input(cacheInput.keyCodes(l), 'uint8', ['Hkv', 'Tq', `kqb${l}`]);
  const ks = g.input(cacheInput.keyScales(l), 'float16', ['Hkv', 'Tq32', `kept${l}`]);
  const km = g.input(cacheInput.keyMins(l), 'float16', ['Hkv', 'Tq32', `kept${l}`]);
  const vq = g.input(cacheInput.valueCodes(l), 'uint8', ['Hkv', 'Tq', `vqb${l}`]);
  const vs = g.input(cacheInput.valueScales(l), 'float16', ['Hkv', 'Tq', `vg${l}`]);
  const vm = g.input(cacheInput.valueMins(l), 'float16', ['Hkv', 'Tq', `vg${l}`]);

  const kept = g.op('Shape', [ki], { start: 3 });
  const keptV = g.op('Shape', [vc], { start: 3 });
  const f32 = (v: string) => g.op('Cast', [v], { to: 1 });
  /** codes [Hkv, T, B] -> float codes [...target, C]: the b-bit fields, lowest first, reshaped to `lead` (int64) then cut to C channels. */
  const unpack = (codes: string, channels: string, lead: string): string => {
    const fields = g.op('BitwiseAnd', [g.op('BitShift', [g.op('Unsqueeze', [codes, g.constI64([-1])]), packing.shift], { direction: 'RIGHT' }), packing.mask]); // [Hkv, T, B, 8/b]
    const width = g.op('Mul', [g.op('Shape', [codes], { start: 2 }), g.op('Shape', [packing.shift])]);
    const unpacked = g.op('Reshape', [fields, g.op('Concat', [lead, width], { axis: 0 })]);
    return f32(g.op('Slice', [unpacked, g.constI64([0]), channels, g.constI64([-1])])); // [...lead, C]
  };

  // Reshape targets take their dims from the scales' shapes, never 0 (copy) next to one dim left to
  // infer: onnxruntime would fold that into a -1, which cannot be inferred while Tq = 0.
  // Keys: per channel over groups of 32 tokens.
  const kCodes = unpack(kq, kept, g.op('Concat', [g.op('Shape', [ks], { start: 0, end: 2 }), g.constI64([32])], { axis: 0 })); // [Hkv, Tq/32, 32, kept]
  const kHat = g.op('Add', [g.op('Mul', [kCodes, g.op('Unsqueeze', [f32(ks), g.constI64([2])])]), g.op('Unsqueeze', [f32(km), g.constI64([2])])]);
  const keys = g.op('Reshape', [kHat, g.op('Concat', [g.constI64([0, 1, -1]), kept], { axis: 0 })]); // [Hkv, 1, Tq, kept]

  // Values: per token over groups of g channels.
  const groups = g.op('Shape', [vs], { start: 2 });
  const vCodes = g.op('Reshape', [unpack(vq, keptV, g.op('Shape', [vs], { start: 0, end: 2 })), g.op('Concat', [g.op('Shape', [vs]), g.op('Div', [keptV, groups])], { axis: 0 })]); // [Hkv, Tq, groups, g]
  const vHat = g.op('Add', [g.op('Mul', [vCodes, g.op('Unsqueeze', [f32(vs), g.constI64([-1])])]), g.op('Unsqueeze', [f32(vm), g.constI64([-1])])]);
  return { keys, values: g.op('Reshape', [vHat, g.op('Concat', [g.constI64([0, 1, -1]), keptV], { axis: 0 })]) }; // [Hkv, 1, Tq, keptV]
}
