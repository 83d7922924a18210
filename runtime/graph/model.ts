// The whole decoder (Llama, Mistral, Qwen2, Qwen3) as one ONNX graph that serves both chunked prefill
// and decode. The KV cache lives outside the graph, in JS buffers owned by KvCache: each call
// feeds the past as per-layer head-major views and gets back only the new tokens' K/V.
// Shapes: S new tokens, D head_dim, G = query heads per KV head, R rows that need logits, W rows
// whose queries come back (observation window); the cache tiers are described in kvcache.ts.
import type { CachePrecision } from '../../core/protocol/settings';
import type { QuantizedWeight, WeightBits } from '../model/quantize';
import { quantizeTensor } from '../model/quantizeTensor';
import { readTensor, readTensorBytes, type ModelWeights, type TensorRef } from '../model/weights';
import { AttentionOps, layerAttention } from './attention';
import { WEIGHT_FILE, type WeightFile } from './weightFile';
import { GraphBuilder, type Elem } from './onnx';

/** Names of the graph's per-layer outputs. */
export const layerOutput = {
  keys: (l: number) => `k.${l}`, // [S, Hkv, D] after RoPE, in the cache's precision
  values: (l: number) => `v.${l}`, // [S, Hkv, D], in the cache's precision
  querySquares: (l: number) => `qsq.${l}`, // [Hkv, D]: sum over window rows and the group's heads of q^2
  windowQueries: (l: number) => `qwin.${l}`, // [W, Hq, D]: the rows named by window_rows, after RoPE
};

const ELEM_OF = { F32: 'float', F16: 'float16', BF16: 'bfloat16' } as const satisfies Record<string, Elem>;

export interface GraphOptions {
  /** Quantize every linear layer's weight (incl. the LM head) to 4 or 8 bits for MatMulNBits. */
  weightBits?: WeightBits;
  /** Attention over the compressed cache layout (compact values); see kvcache.ts. */
  compressed?: boolean;
  /** With the compressed layout: a KIVI-quantized tier too (its codes, scales and mins as inputs). */
  kivi?: boolean;
  /** How the cache stores keys and values: the graph's cache inputs and new K/V outputs (default float16). */
  cachePrecision?: CachePrecision;
  /** Attention products that onnxruntime's WebGPU provider runs on the GPU (see AttentionOps). */
  gpu?: boolean;
  /**
   * Where initializers made at load go (required with weightBits): quantized weights, and then every
   * other weight too, since onnxruntime takes external data from one folder. Shared by the builds of
   * one load, so a second graph (a provider fallback, another cache layout) quantizes nothing again.
   */
  weightFile?: WeightFile;
}

export interface ModelGraph {
  bytes: Uint8Array;
  /** The folder the initializers' external data lives in: the weight file's, or null for the model's own folder. */
  externalFolder: string | null;
}

export function buildModelGraph(w: ModelWeights, opts: GraphOptions = {}): ModelGraph {
  const c = w.config;
  const D = c.headDim;
  const Hq = c.queryHeads;
  const Hkv = c.kvHeads;
  const G = Hq / Hkv;
  const g = new GraphBuilder();

  // Quantized weights are made at load and written to the weight file one stack at a time;
  // onnxruntime reads external data from one folder, so then every weight goes there.
  const file = opts.weightFile ?? null;
  if ((opts.weightBits || w.inMemory) && !file) throw new Error(`buildModelGraph: ${opts.weightBits ? 'quantized weights' : 'weights decoded at load (GGUF)'} need a weightFile`);
  const quantized = new Map<string, string[]>();

  const initializers = new Map<string, string>();
  /** A weight's initializer in its stored dtype; ggml block formats (GGUF) are decoded to float32. */
  const stored = (ref: TensorRef): string => {
    let name = initializers.get(ref.name);
    if (!name) {
      const float = floatDtype(ref);
      const where = file
        ? { file: WEIGHT_FILE, ...file.put(ref.name, () => (float ? readTensorBytes(ref) : readTensor(ref))) }
        : { file: ref.file, offset: ref.offset, length: ref.byteLength };
      name = g.external(ref.name, ELEM_OF[float ?? 'F32'], ref.shape, where);
      initializers.set(ref.name, name);
    }
    return name;
  };
  /** A weight as float32: its bytes in place, cast once if F16/BF16 (folded at session load). Tied heads reuse the embedding. */
  const weights = new Map<string, string>();
  const weight = (ref: TensorRef): string => {
    let value = weights.get(ref.name);
    if (!value) {
      value = (floatDtype(ref) ?? 'F32') === 'F32' ? stored(ref) : g.op('Cast', [stored(ref)], { to: 1 });
      weights.set(ref.name, value);
    }
    return value;
  };

  /**
   * Weights quantized block-wise into MatMulNBits' initializers, stacked row-wise when several. Every
   * row is quantized on its own ([N, blocks, blob] codes, [N * blocks] scales, [N, zpRow] zero
   * points), so a stack is the concatenation of its parts; the parts are made only when the weight
   * file does not hold the stack yet, one stack at a time (tied heads share nothing with the fp32
   * embedding gather).
   */
  const quantizedWeight = (Ws: TensorRef[], bits: WeightBits): string[] => {
    const key = Ws.map((W) => W.name).join('+');
    let names = quantized.get(key);
    if (!names) {
      const N = Ws.reduce((n, W) => n + W.shape[0], 0);
      const blocks = Math.ceil(Ws[0].shape[1] / BLOCK);
      const zpRow = Math.ceil((blocks * bits) / 8);
      let parts: QuantizedWeight[] | null = null;
      const quantize = () => (parts ??= Ws.map((W) => quantizeTensor(W, bits)));
      const stored = (suffix: string, elem: 'uint8' | 'float', dims: number[], make: () => Uint8Array | Float32Array) =>
        g.external(`${key}.${suffix}`, elem, dims, { file: WEIGHT_FILE, ...file!.put(`${key}.${suffix}`, make) });
      names = [
        stored('q', 'uint8', [N, blocks, (BLOCK * bits) / 8], () => concat(quantize().map((q) => q.codes), Uint8Array)),
        stored('scales', 'float', [N * blocks], () => concat(quantize().map((q) => q.scales), Float32Array)),
        stored('zero_points', 'uint8', [N * zpRow], () => concat(quantize().map((q) => q.zeroPoints), Uint8Array)),
      ];
      quantized.set(key, names);
    }
    return names;
  };
  /**
   * Projections of one input side by side, y = x [W1; W2; ...]^T (+ [b1; b2; ...]): [S, N1 + N2 + ...].
   * HF stores W as [out, in]: Gemm's transB reads each in place; quantized weights are stacked into
   * one MatMulNBits, whose output columns each read only their own row (one dispatch, same result).
   */
  const linears = (x: string, parts: { W: TensorRef; b?: TensorRef }[]): string => {
    if (!opts.weightBits) {
      const ys = parts.map(({ W, b }) => g.op('Gemm', b ? [x, weight(W), weight(b)] : [x, weight(W)], { transB: 1 }));
      return ys.length === 1 ? ys[0] : g.op('Concat', ys, { axis: 1 });
    }
    const N = parts.reduce((n, { W }) => n + W.shape[0], 0);
    const K = parts[0].W.shape[1];
    const y = g.op('MatMulNBits', [x, ...quantizedWeight(parts.map(({ W }) => W), opts.weightBits)], { K, N, bits: opts.weightBits, block_size: BLOCK, accuracy_level: 4 }, 'com.microsoft');
    if (!parts.some(({ b }) => b)) return y;
    // Concatenated initializers: folded into one at session load.
    const biases = parts.map(({ W, b }) => (b ? weight(b) : g.constF32(new Array<number>(W.shape[0]).fill(0))));
    return g.op('Add', [y, biases.length === 1 ? biases[0] : g.op('Concat', biases, { axis: 0 })]);
  };
  const linear = (x: string, W: TensorRef, b?: TensorRef): string => linears(x, [{ W, b }]);
  const rmsNorm = (x: string, ref: TensorRef): string =>
    g.op('SimplifiedLayerNormalization', [x, weight(ref)], { axis: -1, epsilon: { float: c.rmsNormEps } });
  /** [RMSNorm(x + y), x + y]: the residual add and the next norm in one kernel. */
  const residualNorm = (x: string, y: string, ref: TensorRef): [string, string] => {
    const [normed, , , sum] = g.opN('SkipSimplifiedLayerNormalization', [y, x, weight(ref)], 4, { epsilon: { float: c.rmsNormEps } }, 'com.microsoft');
    return [normed, sum];
  };
  /**
   * Several projections of one input, [S, N_i] each. Quantized weights go through one stacked
   * MatMulNBits (one pass over the input's blocks), then a split; float weights, one Gemm each.
   */
  const projections = (x: string, Ws: TensorRef[]): string[] => {
    if (!opts.weightBits) return Ws.map((W) => linear(x, W));
    const sizes = g.constI64(Ws.map((W) => W.shape[0]));
    return g.opN('Split', [linears(x, Ws.map((W) => ({ W }))), sizes], Ws.length, { axis: 1 });
  };

  const inputIds = g.input('input_ids', 'int64', ['S']);
  const cos = g.op('Unsqueeze', [g.input('cos', 'float', ['S', D]), g.constI64([1])]); // [S, 1, D]
  const sin = g.op('Unsqueeze', [g.input('sin', 'float', ['S', D]), g.constI64([1])]); // [S, 1, D]
  const causalMask = g.input('causal_mask', 'float', ['S', 'S']);
  const obsWeight = g.input('obs_weight', 'float', ['S']);
  const logitRows = g.input('logit_rows', 'int64', ['R']);
  const windowRows = g.input('window_rows', 'int64', ['W']);
  const packing = opts.compressed && opts.kivi ? { shift: g.input('kv_shift', 'uint8', ['P']), mask: g.input('kv_mask', 'uint8', []) } : null;

  // The queries are grouped per KV head, [S, Hkv, G, D]; the observation weights broadcast over
  // the heads, the causal mask over heads-first scores [Hkv, G, S, S].
  const headMask = g.op('Unsqueeze', [causalMask, g.constI64([0, 1])]); // [1, 1, S, S]
  const scale = g.constF32([1 / Math.sqrt(D)], []);
  const precision = opts.cachePrecision ?? 'float16';
  const half = precision === 'float16';
  const cacheElem: Elem = half ? 'float16' : 'float';
  const cacheGraph = { compressed: !!opts.compressed, packing, precision };
  const obsRoot = g.op('Sqrt', [g.op('Reshape', [obsWeight, g.constI64([-1, 1, 1, 1])])]); // [S, 1, 1, 1]

  /** [D, D] signed permutation with x R = rotate_half(x) = [-x2, x1]; one nonzero per column, so exact. */
  const rotateHalf = g.constF32(
    Array.from({ length: D * D }, (_, at) => {
      const [i, j] = [Math.floor(at / D), at % D];
      return j < D / 2 ? (i === j + D / 2 ? -1 : 0) : i === j - D / 2 ? 1 : 0;
    }),
    [D, D],
  );
  /** x*cos + rotate_half(x)*sin on [S, H, D]. */
  const rope = (x: string): string =>
    g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [g.op('MatMul', [x, rotateHalf]), sin])]);

  const ops = new AttentionOps(g, Hkv, opts.gpu);

  // The embedding is gathered in its stored dtype and only the S rows are cast: a float32 copy of
  // the whole table (2 GB for an 8B model's BF16 embedding) is never made, unless a tied LM head
  // in float32 needs one anyway.
  const embedRows = g.op('Gather', [stored(w.embed), inputIds], { axis: 0 }); // [S, hidden]
  let x = (floatDtype(w.embed) ?? 'F32') === 'F32' ? embedRows : g.op('Cast', [embedRows], { to: 1 });

  // The residual stream: each sublayer's output is added to x by the next norm, one fused kernel.
  let pending: string | null = null;
  w.layers.forEach((L, l) => {
    let h: string;
    if (pending) [h, x] = residualNorm(x, pending, L.inputNorm);
    else h = rmsNorm(x, L.inputNorm);
    const qkv = linears(h, [{ W: L.q, b: L.qBias }, { W: L.k, b: L.kBias }, { W: L.v, b: L.vBias }]);
    const heads3 = g.op('Reshape', [qkv, g.constI64([0, Hq + 2 * Hkv, D])]); // [S, Hq + 2 Hkv, D]
    let qk: string;
    let v: string;
    if (L.qNorm && L.kNorm) {
      // Qwen3: each query and key head is RMS-normalized over D, with its own weights for q and k, before RoPE.
      const [q0, k0, v0] = g.opN('Split', [heads3, g.constI64([Hq, Hkv, Hkv])], 3, { axis: 1 }); // [S, Hq, D], [S, Hkv, D], [S, Hkv, D]
      qk = g.op('Concat', [rmsNorm(q0, L.qNorm), rmsNorm(k0, L.kNorm)], { axis: 1 }); // [S, Hq + Hkv, D]
      v = v0;
    } else {
      [qk, v] = g.opN('Split', [heads3, g.constI64([Hq + Hkv, Hkv])], 2, { axis: 1 }); // [S, Hq + Hkv, D], [S, Hkv, D]
    }
    // RoPE once over the query and key heads side by side.
    const [q, k] = g.opN('Split', [rope(qk), g.constI64([Hq, Hkv])], 2, { axis: 1 }); // [S, Hq, D], [S, Hkv, D]
    // The cache stores the new tokens' keys and values in its own precision.
    const stored = (t: string) => (half ? g.op('Cast', [t], { to: 10 }) : t);
    g.output(layerOutput.keys(l), stored(k), cacheElem, ['S', Hkv, D]);
    g.output(layerOutput.values(l), stored(v), cacheElem, ['S', Hkv, D]);

    const qByHead = g.op('Reshape', [q, g.constI64([0, Hkv, G, D])]); // [S, Hkv, G, D]
    // ThinK's query statistic: sum over the observation window and the group of q_j^2, i.e. of
    // (sqrt(w) q_j)^2 with w the 0/1 window weight.
    const qsq = g.op('ReduceSumSquare', [g.op('Mul', [qByHead, obsRoot]), g.constI64([0, 2])], { keepdims: 0 }); // [Hkv, D]
    g.output(layerOutput.querySquares(l), qsq, 'float', [Hkv, D]);
    // Token eviction and value pruning score tokens with the window's own queries.
    g.output(layerOutput.windowQueries(l), g.op('Gather', [q, windowRows], { axis: 0 }), 'float', ['W', Hq, D]);

    // Attention reads heads-first: the queries [Hkv, G, S, D], scaled before the products (MLAS'
    // single-row kernels take no scale; 1/sqrt(D) is exact when D is a power of 4, one rounding
    // otherwise), and the new tokens' keys and values [Hkv, 1, S, D].
    const heads = (t: string) => g.op('Unsqueeze', [g.op('Transpose', [t], { perm: [1, 0, 2] }), g.constI64([1])]);
    const qHeads = g.op('Mul', [g.op('Transpose', [qByHead], { perm: [1, 2, 0, 3] }), scale]);
    const out = layerAttention(g, ops, { q: qHeads, kNew: heads(k), vNew: heads(v), mask: headMask, D }, l, cacheGraph); // [Hkv, G, S, D]
    const attn = g.op('Reshape', [g.op('Transpose', [out], { perm: [2, 0, 1, 3] }), g.constI64([0, Hq * D])]); // [S, Hq*D]
    let h2: string;
    [h2, x] = residualNorm(x, linear(attn, L.o), L.postNorm);
    const [gate, up] = projections(h2, [L.gate, L.up]);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]); // SiLU(gate) * up
    pending = linear(act, L.down);
  });
  if (pending) x = g.op('Add', [x, pending]);

  const last = rmsNorm(g.op('Gather', [x, logitRows], { axis: 0 }), w.finalNorm); // [R, hidden]
  g.output('logits', linear(last, w.lmHead), 'float', ['R', c.vocabSize]);
  return { bytes: g.toBytes(`think-lens-${c.architecture}`), externalFolder: file ? file.folder : null };
}

/** The float dtype a tensor is stored in, or null for a ggml block format (decoded to float32 at load). */
function floatDtype(ref: TensorRef): 'F32' | 'F16' | 'BF16' | null {
  return ref.dtype === 'F32' || ref.dtype === 'F16' || ref.dtype === 'BF16' ? ref.dtype : null;
}

/** MatMulNBits' block: 32 values of a row share a scale and a zero point. */
const BLOCK = 32;

function concat<T extends Uint8Array | Float32Array>(arrays: T[], Kind: { new (n: number): T }): T {
  const out = new Kind(arrays.reduce((n, a) => n + a.length, 0));
  arrays.reduce((at, a) => (out.set(a, at), at + a.length), 0);
  return out;
}
