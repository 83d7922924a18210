// The whole decoder (Llama, Mistral, Qwen2, Qwen3) as one ONNX graph that serves both chunked prefill
// and decode. The KV cache lives outside the graph, in JS buffers owned by KvCache: each call
// feeds the past as per-(layer, KV head) prefix views and gets back only the new tokens' K/V.
// Shapes: S new tokens, D head_dim, G = query heads per KV head, R rows that need logits, W rows
// whose queries come back (observation window); the cache tiers are described in kvcache.ts.
import { type QuantizedWeight, type WeightBits } from '../model/quantize';
import { quantizeTensor } from '../model/quantizeTensor';
import { readTensor, readTensorBytes, type ModelWeights, type TensorRef } from '../model/weights';
import { AttentionOps, compressedAttention, thinkAttention } from './attention';
import { GraphBuilder, type Elem } from './onnx';

/** Names of the graph's per-layer outputs. */
export const layerOutput = {
  keys: (l: number) => `k.${l}`, // [S, Hkv, D] after RoPE
  values: (l: number) => `v.${l}`, // [S, Hkv, D]
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
  /** Attention products that onnxruntime's WebGPU provider runs on the GPU (see AttentionOps). */
  gpu?: boolean;
  /**
   * Quantized weights by tensor name, shared by the builds of one load: a provider that cannot start
   * gets a CPU graph without quantizing every weight again.
   */
  quantizedCache?: Map<string, QuantizedWeight>;
}

export interface ModelGraph {
  bytes: Uint8Array;
  /** In-memory external data (quantized weights) to pass as sessionOptions.externalData. */
  externalData: { path: string; data: Uint8Array }[];
}

/** File name the graph's quantized initializers refer to; its bytes are handed over in memory. */
const QUANT_FILE = 'think-lens-quantized.bin';

export function buildModelGraph(w: ModelWeights, opts: GraphOptions = {}): ModelGraph {
  const c = w.config;
  const D = c.headDim;
  const Hq = c.queryHeads;
  const Hkv = c.kvHeads;
  const G = Hq / Hkv;
  const g = new GraphBuilder();

  // Quantized weights are made at load and handed to onnxruntime in memory; it then wants every
  // external initializer from memory, so in that mode the unquantized ones are read raw too.
  const quant = new ByteStore();
  const quantized = new Map<string, string[]>();

  /** A weight as float32: its bytes in place, cast once if F16/BF16 (folded at session load). Tied heads reuse the embedding. */
  const weights = new Map<string, string>();
  const inMemory = opts.weightBits !== undefined || w.inMemory === true;
  const weight = (ref: TensorRef): string => {
    let value = weights.get(ref.name);
    if (!value) {
      // ggml block formats are decoded to float32 here; float dtypes go in as stored.
      const float = ref.dtype === 'F32' || ref.dtype === 'F16' || ref.dtype === 'BF16' ? ref.dtype : null;
      const where = !inMemory
        ? { file: ref.file, offset: ref.offset, length: ref.byteLength }
        : { file: QUANT_FILE, ...quant.add(float ? readTensorBytes(ref) : readTensor(ref)) };
      const name = g.external(ref.name, ELEM_OF[float ?? 'F32'], ref.shape, where);
      value = float === 'F32' || !float ? name : g.op('Cast', [name], { to: 1 });
      weights.set(ref.name, value);
    }
    return value;
  };

  /**
   * Weights quantized block-wise into MatMulNBits' initializers, stacked row-wise when several
   * (once per stack; tied heads share nothing with the fp32 embedding gather).
   */
  const quantizedWeight = (Ws: TensorRef[], bits: WeightBits): string[] => {
    const key = Ws.map((W) => W.name).join('+');
    let names = quantized.get(key);
    if (!names) {
      // Every row is quantized on its own ([N, blocks, blob] codes, [N * blocks] scales, [N, zpRow]
      // zero points), so a stack is the concatenation of its parts.
      const parts = Ws.map((W) => {
        let q = opts.quantizedCache?.get(W.name);
        if (!q) {
          q = quantizeTensor(W, bits);
          opts.quantizedCache?.set(W.name, q);
        }
        return q;
      });
      const N = parts.reduce((n, q) => n + q.N, 0);
      const blocks = parts[0].scales.length / parts[0].N;
      const join = <T extends Uint8Array | Float32Array>(arrays: T[], make: (n: number) => T): T => {
        const out = make(arrays.reduce((n, a) => n + a.length, 0));
        arrays.reduce((at, a) => (out.set(a, at), at + a.length), 0);
        return out;
      };
      const codes = join(parts.map((q) => q.codes), (n) => new Uint8Array(n));
      const stored = (suffix: string, elem: 'uint8' | 'float', dims: number[], data: Uint8Array | Float32Array) =>
        g.external(`${key}.${suffix}`, elem, dims, { file: QUANT_FILE, ...quant.add(data) });
      names = [
        stored('q', 'uint8', [N, blocks, codes.length / (N * blocks)], codes),
        stored('scales', 'float', [N * blocks], join(parts.map((q) => q.scales), (n) => new Float32Array(n))),
        stored('zero_points', 'uint8', [N * (parts[0].zeroPoints.length / parts[0].N)], join(parts.map((q) => q.zeroPoints), (n) => new Uint8Array(n))),
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
    const y = g.op('MatMulNBits', [x, ...quantizedWeight(parts.map(({ W }) => W), opts.weightBits)], { K, N, bits: opts.weightBits, block_size: 32, accuracy_level: 4 }, 'com.microsoft');
    if (!parts.some(({ b }) => b)) return y;
    // Concatenated initializers: folded into one at session load.
    const biases = parts.map(({ W, b }) => (b ? weight(b) : g.constF32(new Array<number>(W.shape[0]).fill(0))));
    return g.op('Add', [y, biases.length === 1 ? biases[0] : g.op('Concat', biases, { axis: 0 })]);
  };
  const linear = (x: string, W: TensorRef, b?: TensorRef): string => linears(x, [{ W, b }]);
  const rmsNorm = (x: string, ref: TensorRef): string =>
    g.op('SimplifiedLayerNormalization', [x, weight(ref)], { axis: -1, epsilon: { float: c.rmsNormEps } });

  const inputIds = g.input('input_ids', 'int64', ['S']);
  const cos = g.op('Unsqueeze', [g.input('cos', 'float', ['S', D]), g.constI64([1])]); // [S, 1, D]
  const sin = g.op('Unsqueeze', [g.input('sin', 'float', ['S', D]), g.constI64([1])]); // [S, 1, D]
  const causalMask = g.input('causal_mask', 'float', ['S', 'S']);
  const obsWeight = g.input('obs_weight', 'float', ['S']);
  const logitRows = g.input('logit_rows', 'int64', ['R']);
  const windowRows = g.input('window_rows', 'int64', ['W']);
  const packing = opts.compressed && opts.kivi ? { shift: g.input('kv_shift', 'uint8', ['P']), mask: g.input('kv_mask', 'uint8', []) } : null;

  // Attention reads the queries as [S, Hkv, G, D] (each KV head's group of query heads side by
  // side); the per-token mask and observation weights broadcast over the heads.
  const headMask = g.op('Unsqueeze', [causalMask, g.constI64([1, 2])]); // [S, 1, 1, S]
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

  const ops = new AttentionOps(g, D, opts.gpu);

  let x = g.op('Gather', [weight(w.embed), inputIds], { axis: 0 }); // [S, hidden]

  w.layers.forEach((L, l) => {
    const h = rmsNorm(x, L.inputNorm);
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
    g.output(layerOutput.keys(l), k, 'float', ['S', Hkv, D]);
    g.output(layerOutput.values(l), v, 'float', ['S', Hkv, D]);

    const qByHead = g.op('Reshape', [q, g.constI64([0, Hkv, G, D])]); // [S, Hkv, G, D]
    // ThinK's query statistic: sum over the observation window and the group of q_j^2, i.e. of
    // (sqrt(w) q_j)^2 with w the 0/1 window weight.
    const qsq = g.op('ReduceSumSquare', [g.op('Mul', [qByHead, obsRoot]), g.constI64([0, 2])], { keepdims: 0 }); // [Hkv, D]
    g.output(layerOutput.querySquares(l), qsq, 'float', [Hkv, D]);
    // Token eviction and value pruning score tokens with the window's own queries.
    g.output(layerOutput.windowQueries(l), g.op('Gather', [q, windowRows], { axis: 0 }), 'float', ['W', Hq, D]);

    // The new tokens' scores and values for all KV heads at once; only the cached tiers, separate
    // inputs per head, are attended head by head.
    const kByHead = g.op('Transpose', [k], { perm: [1, 0, 2] }); // [Hkv, S, D]
    const vByHead = g.op('Transpose', [v], { perm: [1, 0, 2] }); // [Hkv, S, D]
    const newScores = g.op('Add', [ops.scores(qByHead, kByHead), headMask]); // [S, Hkv, G, S]
    const qs = g.opN('Split', [qByHead], Hkv, { axis: 1, num_outputs: Hkv }); // Hkv x [S, 1, G, D]
    const ss = g.opN('Split', [newScores], Hkv, { axis: 1, num_outputs: Hkv }); // Hkv x [S, 1, G, S]
    const heads = qs.map((qHead, kv) => {
      const head = { q: qHead, newScores: ss[kv], D };
      return opts.compressed ? compressedAttention(g, ops, head, l, kv, packing) : thinkAttention(g, ops, head, l, kv);
    });
    const past = g.op('Concat', heads.map((o) => o.past), { axis: 1 }); // [S, Hkv, G, D]
    const pNew = g.op('Concat', heads.map((o) => o.pNew), { axis: 1 }); // [S, Hkv, G, S]
    const attn = g.op('Reshape', [g.op('Add', [past, g.op('MatMul', [pNew, vByHead])]), g.constI64([0, Hq * D])]); // [S, Hq*D]
    x = g.op('Add', [x, linear(attn, L.o)]);

    const h2 = rmsNorm(x, L.postNorm);
    const gate = linear(h2, L.gate);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), linear(h2, L.up)]); // SiLU(gate) * up
    x = g.op('Add', [x, linear(act, L.down)]);
  });

  const last = rmsNorm(g.op('Gather', [x, logitRows], { axis: 0 }), w.finalNorm); // [R, hidden]
  g.output('logits', linear(last, w.lmHead), 'float', ['R', c.vocabSize]);
  return { bytes: g.toBytes(`think-lens-${c.architecture}`), externalData: quant.size ? [{ path: QUANT_FILE, data: quant.concat() }] : [] };
}

/** Appends byte arrays into one in-memory file, 16-byte aligned, and says where each landed. */
class ByteStore {
  private parts: Uint8Array[] = [];
  size = 0;

  add(data: Uint8Array | Float32Array): { offset: number; length: number } {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const offset = this.size;
    this.parts.push(bytes);
    this.size += bytes.length;
    const pad = (16 - (this.size % 16)) % 16;
    if (pad) {
      this.parts.push(new Uint8Array(pad));
      this.size += pad;
    }
    return { offset, length: bytes.length };
  }

  concat(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    this.parts = [];
    return out;
  }
}
