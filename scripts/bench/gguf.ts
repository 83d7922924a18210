// A GGUF v3 writer of ours: converts a Hugging Face Llama / Mistral / Qwen2 / Qwen3 folder
// (config.json, safetensors, optional tokenizer.json) into a GGUF file that llama.cpp loads, in
// F32 or F16 (so the benchmark runs llama.cpp on exactly the weights our runtime runs), or in
// ggml's block formats Q8_0, Q4_0, Q4_K, Q5_K, Q6_K and the mix Q4_K_M (see `tensorType`), so
// tests can check our block decoding against llama.cpp's.
//
// The vocabulary: a byte-level BPE tokenizer.json becomes tokenizer.ggml.model 'gpt2' (tokens,
// merges, pre-tokenizer name); a sentencepiece-style one (BPE with byte_fallback: Llama 2,
// llama2.c) becomes 'llama' (tokens, scores, token types with the <0xNN> byte tokens). tokenizer.json
// keeps no sentencepiece scores, so they are derived from the merge order: a piece made by merge r
// (its first; r from 0) scores -(r + 1), so ranking pieces by score ranks the merges as tokenizer.json
// does (stories260k's merges come back exactly); pieces no merge makes score below all of them
// (-(merges + 1 + id)), byte, control and unknown tokens 0.
// add_bos_token and the chat template come from tokenizer_config.json (or chat_template.jinja).
//
// Format facts (GGUF v3, as llama.cpp reads it): little-endian; header = magic "GGUF", version,
// tensor count (u64), metadata count (u64); then metadata key/value pairs; then tensor infos
// (name, dims innermost first, ggml type, offset into the data section); then the data section,
// every tensor aligned to 32 bytes.
//
// Layout facts: llama.cpp's 'llama' architecture applies RoPE to adjacent channel pairs, while
// HF Llama checkpoints rotate halves, so q_proj / k_proj rows are permuted per head (row
// p * D/2 + i moves to 2i + p); 'qwen2' and 'qwen3' use the half-rotation layout and keep rows as
// they are. 'qwen3' adds per-head RMS norms of q and k (blk.N.attn_q_norm / attn_k_norm, [head_dim],
// F32) and has no attention biases (llama.cpp's LLM_ARCH_QWEN3 tensor list).
import { closeSync, openSync, readFileSync, renameSync, writeSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ModelConfig } from '../../runtime/model/config';
import { floatToHalf } from '../../runtime/model/safetensors';
import { VType } from '../../runtime/model/gguf/file';
import { openModel, readTensor, type TensorRef } from '../../runtime/model/weights';
import { K_BLOCK_BYTES, QK_K, quantizeQ4_K, quantizeQ5_K, quantizeQ6_K } from './kquants';

export type GgufFileType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q5_K' | 'Q6_K' | 'Q4_K_M';

const ALIGNMENT = 32;


/** ggml tensor types used here. */
const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, Q4_K: 12, Q5_K: 13, Q6_K: 14 } as const;
type GgmlTypeName = keyof typeof GGML_TYPE;
/**
 * general.file_type (llama_ftype): all F32, or mostly F16 / Q8_0 / Q4_0 (1-D tensors stay F32);
 * a file all Q4_K or Q5_K is llama.cpp's Q4_K_S / Q5_K_S (14, 16), all Q6_K 18, Q4_K_M 15.
 */
const FILE_TYPE: Record<GgufFileType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, Q4_K: 14, Q5_K: 16, Q6_K: 18, Q4_K_M: 15 };
/** ggml's quantization block: 32 consecutive values of a row share one float16 scale. */
export const QK = 32;
/** Bytes per block: the scale, then 32 int8 codes (Q8_0) or 32 nibbles (Q4_0). */
const BLOCK_BYTES = { Q8_0: 2 + QK, Q4_0: 2 + QK / 2 } as const;

/** llama.cpp token types. */
const TOKEN_NORMAL = 1;
const TOKEN_UNKNOWN = 2;
const TOKEN_CONTROL = 3;
const TOKEN_USER_DEFINED = 4;
const TOKEN_UNUSED = 5;
const TOKEN_BYTE = 6;

type MetaValue =
  | { t: VType.U32 | VType.I32 | VType.F32; v: number }
  | { t: VType.BOOL; v: boolean }
  | { t: VType.STRING; v: string }
  | { t: VType.ARRAY; elem: VType.STRING; v: string[] }
  | { t: VType.ARRAY; elem: VType.I32; v: Int32Array }
  | { t: VType.ARRAY; elem: VType.F32; v: Float32Array };

interface GgufTensor {
  name: string;
  /** ggml order: innermost (contiguous) dimension first */
  dims: number[];
  type: (typeof GGML_TYPE)[keyof typeof GGML_TYPE];
  bytes: number;
  /** Produces the tensor's bytes when the writer reaches it, so at most one tensor is in memory. */
  data(): Uint8Array;
}

/** Growable little-endian byte buffer for the header part (metadata + tensor infos). */
class ByteSink {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  // Buffer's write methods return the offset just past what they wrote.
  u32(x: number): void {
    this.room(4);
    this.length = this.buf.writeUInt32LE(x, this.length);
  }
  i32(x: number): void {
    this.room(4);
    this.length = this.buf.writeInt32LE(x, this.length);
  }
  u64(x: number): void {
    this.room(8);
    this.length = this.buf.writeBigUInt64LE(BigInt(x), this.length);
  }
  f32(x: number): void {
    this.room(4);
    this.length = this.buf.writeFloatLE(x, this.length);
  }
  u8(x: number): void {
    this.room(1);
    this.length = this.buf.writeUInt8(x, this.length);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.room(b.length);
    this.length += b.copy(this.buf, this.length);
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeValue(out: ByteSink, m: MetaValue): void {
  out.u32(m.t);
  switch (m.t) {
    case VType.U32:
      out.u32(m.v);
      break;
    case VType.I32:
      out.i32(m.v);
      break;
    case VType.F32:
      out.f32(m.v);
      break;
    case VType.BOOL:
      out.u8(m.v ? 1 : 0);
      break;
    case VType.STRING:
      out.str(m.v);
      break;
    case VType.ARRAY:
      out.u32(m.elem);
      out.u64(m.v.length);
      if (m.elem === VType.STRING) for (const s of m.v as string[]) out.str(s);
      else if (m.elem === VType.F32) for (const x of m.v as Float32Array) out.f32(x);
      else for (const x of m.v as Int32Array) out.i32(x);
      break;
  }
}

const align = (x: number) => Math.ceil(x / ALIGNMENT) * ALIGNMENT;

/** Writes metadata + tensors as one GGUF v3 file (atomically: a temp file renamed at the end). */
export function writeGguf(path: string, metadata: [string, MetaValue][], tensors: GgufTensor[]): void {
  const head = new ByteSink();
  head.u32(0x46554747); // "GGUF" read as a little-endian u32
  head.u32(3);
  head.u64(tensors.length);
  head.u64(metadata.length);
  for (const [key, value] of metadata) {
    head.str(key);
    writeValue(head, value);
  }
  let offset = 0;
  for (const t of tensors) {
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(t.type);
    head.u64(offset);
    offset = align(offset + t.bytes);
  }
  const tmp = `${path}.partial`;
  const fd = openSync(tmp, 'w');
  try {
    const header = head.bytes();
    writeSync(fd, header);
    let pos = header.length;
    const pad = (to: number) => {
      if (to > pos) writeSync(fd, Buffer.alloc(to - pos));
      pos = to;
    };
    const dataStart = align(pos);
    pad(dataStart);
    let rel = 0;
    for (const t of tensors) {
      pad(dataStart + rel);
      const bytes = t.data();
      if (bytes.byteLength !== t.bytes) throw new Error(`${t.name}: produced ${bytes.byteLength} bytes, expected ${t.bytes}`);
      writeSync(fd, bytes);
      pos += bytes.byteLength;
      rel = align(rel + t.bytes);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * HF rotate-half rows -> llama.cpp's adjacent-pair rows, per head: within each head of D rows,
 * row p * (D/2) + i (p = 0 first half, 1 second half) becomes row 2i + p.
 */
export function permuteRotaryRows(w: Float32Array, heads: number, cols: number): Float32Array {
  const rows = w.length / cols;
  if (!Number.isInteger(rows) || rows % heads !== 0 || (rows / heads) % 2 !== 0)
    throw new Error(`permuteRotaryRows: ${rows} rows do not split into ${heads} heads of an even size`);
  const D = rows / heads;
  const half = D / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++)
    for (let p = 0; p < 2; p++)
      for (let i = 0; i < half; i++) {
        const src = (h * D + p * half + i) * cols;
        out.set(w.subarray(src, src + cols), (h * D + 2 * i + p) * cols);
      }
  return out;
}

function toBytes(values: Float32Array, type: GgufTensor['type']): Uint8Array {
  if (type === GGML_TYPE.F32) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (type === GGML_TYPE.Q8_0) return quantizeQ8_0(values);
  if (type === GGML_TYPE.Q4_0) return quantizeQ4_0(values);
  if (type === GGML_TYPE.Q4_K) return quantizeQ4_K(values);
  if (type === GGML_TYPE.Q5_K) return quantizeQ5_K(values);
  if (type === GGML_TYPE.Q6_K) return quantizeQ6_K(values);
  const half = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) half[i] = floatToHalf(values[i]);
  return new Uint8Array(half.buffer);
}

/** ggml's bytes for `n` values of a type (n a multiple of the type's block: 32, or 256 for K-quants). */
function tensorBytes(n: number, type: GgufTensor['type']): number {
  if (type === GGML_TYPE.Q8_0) return (n / QK) * BLOCK_BYTES.Q8_0;
  if (type === GGML_TYPE.Q4_0) return (n / QK) * BLOCK_BYTES.Q4_0;
  if (type === GGML_TYPE.Q4_K) return (n / QK_K) * K_BLOCK_BYTES.Q4_K;
  if (type === GGML_TYPE.Q5_K) return (n / QK_K) * K_BLOCK_BYTES.Q5_K;
  if (type === GGML_TYPE.Q6_K) return (n / QK_K) * K_BLOCK_BYTES.Q6_K;
  return n * (type === GGML_TYPE.F32 ? 4 : 2);
}

/**
 * Q8_0, as ggml's reference quantizer: d = max|x| / 127, codes round(x / d) as int8. Arithmetic in
 * float32 (Math.fround) as ggml's C, so every code matches its.
 */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  const f = Math.fround;
  const out = new Uint8Array((x.length / QK) * BLOCK_BYTES.Q8_0);
  const view = new DataView(out.buffer);
  for (let b = 0, at = 0; b < x.length; b += QK, at += BLOCK_BYTES.Q8_0) {
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[b + j]));
    const d = f(amax / 127);
    const id = d ? f(1 / d) : 0;
    view.setUint16(at, floatToHalf(d), true);
    for (let j = 0; j < QK; j++) view.setInt8(at + 2 + j, roundHalfAway(f(x[b + j] * id)));
  }
  return out;
}

/**
 * Q4_0, as ggml's reference quantizer (float32 arithmetic, as its C): d = (the value of largest
 * magnitude) / -8, codes min(15, trunc(x / d + 8.5)); byte j holds value j in its low nibble and
 * value j + 16 in its high one.
 */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  const f = Math.fround;
  const out = new Uint8Array((x.length / QK) * BLOCK_BYTES.Q4_0);
  const view = new DataView(out.buffer);
  for (let b = 0, at = 0; b < x.length; b += QK, at += BLOCK_BYTES.Q4_0) {
    let max = 0;
    for (let j = 0; j < QK; j++) if (Math.abs(x[b + j]) > Math.abs(max)) max = x[b + j];
    const d = f(max / -8);
    const id = d ? f(1 / d) : 0;
    view.setUint16(at, floatToHalf(d), true);
    const code = (v: number) => Math.min(15, Math.trunc(f(f(v * id) + 8.5)));
    for (let j = 0; j < QK / 2; j++) out[at + 2 + j] = code(x[b + j]) | (code(x[b + j + QK / 2]) << 4);
  }
  return out;
}

/** llama.cpp's use_more_bits: the _M mixes give more bits to the first and last eighth of the layers and every third one between. */
export function useMoreBits(layer: number, layers: number): boolean {
  const eighth = Math.floor(layers / 8);
  return layer < eighth || layer >= Math.floor((7 * layers) / 8) || (layer - eighth) % 3 === 2;
}

/**
 * The ggml type of one tensor of a `fileType` file:
 * - 1-D tensors (norms, biases) are F32, as llama.cpp expects;
 * - Q4_K_M follows llama.cpp's llama_tensor_get_type in short: attn_v and ffn_down are Q6_K in
 *   the layers useMoreBits picks, the LM head (output.weight, or token_embd when the head is
 *   tied) Q6_K, every other matrix Q4_K (its architecture- and size-specific exceptions are left
 *   out). Q4_K / Q5_K / Q6_K files put every matrix, the head included, in that one type;
 * - rows that do not split into the type's blocks fall back as llama.cpp's do: a K-quant to Q8_0
 *   when they split into 32 (llama.cpp picks Q5_0 / Q5_1 / Q8_0 by type; Q8_0 is the one our
 *   runtime reads), else F16; Q8_0 / Q4_0 to F16.
 */
export function tensorType(fileType: GgufFileType, name: string, shape: readonly number[], layers: number, tiedHead: boolean): GgmlTypeName {
  if (shape.length === 1) return 'F32';
  if (fileType === 'F32' || fileType === 'F16') return fileType;
  let type: GgmlTypeName = fileType === 'Q4_K_M' ? 'Q4_K' : fileType;
  if (fileType === 'Q4_K_M') {
    const layer = /^blk\.(\d+)\.(attn_v|ffn_down)\.weight$/.exec(name);
    if (layer && useMoreBits(Number(layer[1]), layers)) type = 'Q6_K';
    if (name === 'output.weight' || (tiedHead && name === 'token_embd.weight')) type = 'Q6_K';
  }
  const cols = shape[shape.length - 1];
  if (type.endsWith('_K') && cols % QK_K !== 0) type = 'Q8_0';
  return cols % QK === 0 ? type : 'F16';
}

/** C's roundf: halves away from zero. */
function roundHalfAway(v: number): number {
  return Math.sign(v) * Math.round(Math.abs(v));
}

interface Vocab {
  /** tokenizer.ggml.model: 'gpt2' (byte-level BPE) or 'llama' (sentencepiece BPE with byte fallback). */
  model: 'gpt2' | 'llama';
  tokens: string[];
  types: Int32Array;
  /** 'gpt2': "left right" merges, by rank. */
  merges: string[];
  /** 'llama': one score per token (see the file header). */
  scores: Float32Array | null;
  /** The unknown token's id ('llama'), if any. */
  unkId: number | null;
}

/** The 256 printable stand-ins GPT-2's byte-level BPE uses for bytes: a complete vocabulary of single bytes. */
function byteLevelAlphabet(): string[] {
  const direct: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) direct.push(b);
  for (let b = 0xa1; b <= 0xac; b++) direct.push(b);
  for (let b = 0xae; b <= 0xff; b++) direct.push(b);
  const chars: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) chars[b] = direct.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  return chars;
}

/**
 * The GGUF vocabulary: tokenizer.json's BPE vocab, merges and added tokens when present; padded
 * with unused "[PAD<i>]" tokens up to the model's vocab_size (a checkpoint's embedding may be
 * larger than its tokenizer). Without tokenizer.json: the 256 byte tokens, padded the same way
 * (enough for llama.cpp to load; the benchmark feeds token ids, never text).
 */
export function readVocab(tokenizerPath: string | null, vocabSize: number): Vocab {
  const tokens: string[] = new Array(vocabSize);
  const types = new Int32Array(vocabSize);
  let merges: string[] = [];
  let model: Vocab['model'] = 'gpt2';
  let scores: Float32Array | null = null;
  let unkId: number | null = null;
  if (tokenizerPath) {
    const tj = JSON.parse(readFileSync(tokenizerPath, 'utf8')) as {
      model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[]; byte_fallback?: boolean; unk_token?: string | null };
      added_tokens?: { id: number; content: string; special?: boolean }[];
    };
    if (tj.model?.type !== 'BPE' || !tj.model.vocab) throw new Error(`${tokenizerPath}: only BPE tokenizers (model.type "BPE" with a vocab) convert to GGUF`);
    const place = (id: number, text: string, type: number) => {
      if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) throw new Error(`${tokenizerPath}: token ${JSON.stringify(text)} has id ${id}, outside the model's vocab_size ${vocabSize}`);
      tokens[id] = text;
      types[id] = type;
    };
    const pairs = (tj.model.merges ?? []).map((m): [string, string] => {
      if (Array.isArray(m)) return m;
      const at = m.indexOf(' ', 1);
      return [m.slice(0, at), m.slice(at + 1)];
    });
    if (tj.model.byte_fallback) {
      model = 'llama';
      for (const [text, id] of Object.entries(tj.model.vocab)) place(id, text, /^<0x[0-9A-F]{2}>$/.test(text) ? TOKEN_BYTE : TOKEN_NORMAL);
      for (const a of tj.added_tokens ?? []) place(a.id, a.content, a.special ? TOKEN_CONTROL : TOKEN_USER_DEFINED);
      const unk = tj.model.unk_token ? tj.model.vocab[tj.model.unk_token] : undefined;
      if (unk !== undefined) {
        place(unk, tj.model.unk_token!, TOKEN_UNKNOWN);
        unkId = unk;
      }
      // Rank-derived scores (see the file header).
      const firstRank = new Map<string, number>();
      pairs.forEach(([a, b], r) => {
        if (!firstRank.has(a + b)) firstRank.set(a + b, r);
      });
      scores = new Float32Array(vocabSize);
      for (let id = 0; id < vocabSize; id++) {
        if (tokens[id] === undefined || types[id] !== TOKEN_NORMAL) continue;
        const r = firstRank.get(tokens[id]);
        scores[id] = r !== undefined ? -(r + 1) : -(pairs.length + 1 + id);
      }
    } else {
      for (const [text, id] of Object.entries(tj.model.vocab)) place(id, text, TOKEN_NORMAL);
      for (const a of tj.added_tokens ?? []) place(a.id, a.content, a.special ? TOKEN_CONTROL : TOKEN_USER_DEFINED);
      merges = pairs.map(([a, b]) => `${a} ${b}`);
    }
  } else {
    if (vocabSize < 256) throw new Error(`vocab_size ${vocabSize} is below the 256 byte tokens a tokenizer-less GGUF vocabulary needs`);
    byteLevelAlphabet().forEach((c, b) => {
      tokens[b] = c;
      types[b] = TOKEN_NORMAL;
    });
  }
  for (let i = 0; i < vocabSize; i++)
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = TOKEN_UNUSED;
    }
  return { model, tokens, types, merges, scores, unkId };
}

/** add_bos_token and the chat template next to a tokenizer.json (tokenizer_config.json, chat_template.jinja). */
function tokenizerSettings(tokenizerPath: string | null): { addBos: boolean | null; chatTemplate: string | null } {
  if (!tokenizerPath) return { addBos: null, chatTemplate: null };
  const dir = dirname(tokenizerPath);
  const configPath = join(dir, 'tokenizer_config.json');
  const config = existsSync(configPath) ? (JSON.parse(readFileSync(configPath, 'utf8')) as { add_bos_token?: unknown; chat_template?: unknown }) : {};
  const jinjaPath = join(dir, 'chat_template.jinja');
  const chatTemplate = existsSync(jinjaPath) ? readFileSync(jinjaPath, 'utf8') : typeof config.chat_template === 'string' ? config.chat_template : null;
  return { addBos: typeof config.add_bos_token === 'boolean' ? config.add_bos_token : null, chatTemplate };
}

export interface GgufOptions {
  fileType: GgufFileType;
  /** tokenizer.ggml.pre: llama.cpp's pre-tokenizer name for the vocabulary (default 'default'). */
  preTokenizer?: string;
  /** Context length written to the file (default the config's). */
  contextLength?: number;
  /** Where tokenizer.json comes from (default the model folder, if it has one). */
  tokenizerPath?: string;
}

/** Converts a HF model folder into a GGUF file at `outPath`. */
export function convertToGguf(modelDir: string, outPath: string, o: GgufOptions): void {
  const w = openModel(modelDir);
  const c: ModelConfig = w.config;
  if (c.ropeScaling) throw new Error(`${modelDir}: rope_scaling '${c.ropeScaling.type}' is not supported by this GGUF writer`);
  const arch = c.architecture === 'Qwen2ForCausalLM' ? 'qwen2' : c.architecture === 'Qwen3ForCausalLM' ? 'qwen3' : 'llama';
  const tokPath = o.tokenizerPath ?? (existsSync(join(modelDir, 'tokenizer.json')) ? join(modelDir, 'tokenizer.json') : null);
  const vocab = readVocab(tokPath, c.vocabSize);
  const settings = tokenizerSettings(tokPath);

  const u32 = (v: number): MetaValue => ({ t: VType.U32, v });
  const f32 = (v: number): MetaValue => ({ t: VType.F32, v });
  const meta: [string, MetaValue][] = [
    ['general.architecture', { t: VType.STRING, v: arch }],
    ['general.name', { t: VType.STRING, v: modelDir.split('/').filter(Boolean).pop() ?? 'model' }],
    ['general.file_type', u32(FILE_TYPE[o.fileType])],
    ['general.quantization_version', u32(2)],
    [`${arch}.vocab_size`, u32(c.vocabSize)],
    [`${arch}.context_length`, u32(o.contextLength ?? c.contextLength)],
    [`${arch}.embedding_length`, u32(c.hiddenSize)],
    [`${arch}.block_count`, u32(c.layers)],
    [`${arch}.feed_forward_length`, u32(c.intermediateSize)],
    [`${arch}.attention.head_count`, u32(c.queryHeads)],
    [`${arch}.attention.head_count_kv`, u32(c.kvHeads)],
    [`${arch}.attention.key_length`, u32(c.headDim)],
    [`${arch}.attention.value_length`, u32(c.headDim)],
    [`${arch}.rope.dimension_count`, u32(c.headDim)],
    [`${arch}.rope.freq_base`, f32(c.ropeTheta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(c.rmsNormEps)],
    ['tokenizer.ggml.model', { t: VType.STRING, v: vocab.model }],
    ['tokenizer.ggml.tokens', { t: VType.ARRAY, elem: VType.STRING, v: vocab.tokens }],
    ['tokenizer.ggml.token_type', { t: VType.ARRAY, elem: VType.I32, v: vocab.types }],
    // When tokenizer_config.json does not say: BOS for sentencepiece ('llama') vocabularies, as they expect; none for 'gpt2'.
    ['tokenizer.ggml.add_bos_token', { t: VType.BOOL, v: settings.addBos ?? vocab.model === 'llama' }],
  ];
  if (vocab.model === 'gpt2') {
    meta.push(['tokenizer.ggml.pre', { t: VType.STRING, v: o.preTokenizer ?? 'default' }]);
    meta.push(['tokenizer.ggml.merges', { t: VType.ARRAY, elem: VType.STRING, v: vocab.merges }]);
  } else {
    meta.push(['tokenizer.ggml.scores', { t: VType.ARRAY, elem: VType.F32, v: vocab.scores! }]);
  }
  if (vocab.unkId !== null) meta.push(['tokenizer.ggml.unknown_token_id', u32(vocab.unkId)]);
  if (c.bosTokenId !== null) meta.push(['tokenizer.ggml.bos_token_id', u32(c.bosTokenId)]);
  if (c.eosTokenIds.length) meta.push(['tokenizer.ggml.eos_token_id', u32(c.eosTokenIds[0])]);
  if (settings.chatTemplate !== null) meta.push(['tokenizer.chat_template', { t: VType.STRING, v: settings.chatTemplate }]);

  const tensors: GgufTensor[] = [];
  const add = (name: string, ref: TensorRef, transform?: (v: Float32Array) => Float32Array) => {
    const type = GGML_TYPE[tensorType(o.fileType, name, ref.shape, c.layers, w.tiedHead)];
    const n = ref.shape.reduce((a, b) => a * b, 1);
    tensors.push({
      name,
      dims: [...ref.shape].reverse(),
      type,
      bytes: tensorBytes(n, type),
      data: () => {
        const v = readTensor(ref);
        return toBytes(transform ? transform(v) : v, type);
      },
    });
  };
  // Biases (rare on llama) are rows of width 1 and move with their rows.
  const rotary = (heads: number, cols = c.hiddenSize) => (arch === 'llama' ? (v: Float32Array) => permuteRotaryRows(v, heads, cols) : undefined);
  add('token_embd.weight', w.embed);
  w.layers.forEach((L, i) => {
    const p = `blk.${i}.`;
    add(`${p}attn_norm.weight`, L.inputNorm);
    add(`${p}attn_q.weight`, L.q, rotary(c.queryHeads));
    add(`${p}attn_k.weight`, L.k, rotary(c.kvHeads));
    add(`${p}attn_v.weight`, L.v);
    if (L.qBias) add(`${p}attn_q.bias`, L.qBias, rotary(c.queryHeads, 1));
    if (L.kBias) add(`${p}attn_k.bias`, L.kBias, rotary(c.kvHeads, 1));
    if (L.vBias) add(`${p}attn_v.bias`, L.vBias);
    if (L.qNorm) add(`${p}attn_q_norm.weight`, L.qNorm);
    if (L.kNorm) add(`${p}attn_k_norm.weight`, L.kNorm);
    add(`${p}attn_output.weight`, L.o);
    add(`${p}ffn_norm.weight`, L.postNorm);
    add(`${p}ffn_gate.weight`, L.gate);
    add(`${p}ffn_up.weight`, L.up);
    add(`${p}ffn_down.weight`, L.down);
  });
  add('output_norm.weight', w.finalNorm);
  // Tied heads: no output.weight; llama.cpp then reuses token_embd.
  if (!w.tiedHead) add('output.weight', w.lmHead);
  writeGguf(outPath, meta, tensors);
}
