// A model folder's weights, mapped by name to per-layer tensor references (file + byte range).
// openModel validates everything the config implies (every tensor present, shapes, dtypes)
// from the safetensors headers alone, so a bad download fails fast with one clear line and no
// weight bytes are read until the graph builder or a test asks for them.
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { loadConfig, type ModelConfig } from './config';
import { ModelError } from './errors';
import { dequantize } from './gguf/dequantize';
import { ggmlType } from './gguf/types';
import { decodeFloats, elementCount, readSafetensorsHeader, type FloatDType, type SafetensorsHeader } from './safetensors';

/** The float dtypes the runtime reads (those safetensors.ts decodes). */
export type DType = FloatDType;

/** What a tensor is stored as: a float dtype, or a ggml block format inside a GGUF file. */
export type StoredType = DType | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q5_K' | 'Q6_K';

const SUPPORTED_DTYPES: readonly string[] = ['F32', 'F16', 'BF16'];

export interface TensorRef {
  name: string;
  dtype: StoredType;
  shape: number[];
  /** absolute */
  path: string;
  /** relative to model dir */
  file: string;
  /** absolute byte offset of the data in the file */
  offset: number;
  byteLength: number;
  /**
   * Row r of the tensor (HF layout) is stored row `rows[r]` (GGUF Llama q/k, whose rows llama.cpp
   * keeps in adjacent-pair RoPE order). Absent: stored in order.
   */
  rows?: Int32Array;
}

export interface LayerWeights {
  inputNorm: TensorRef;
  q: TensorRef;
  k: TensorRef;
  v: TensorRef;
  o: TensorRef;
  qBias?: TensorRef;
  kBias?: TensorRef;
  vBias?: TensorRef;
  /** Qwen3: RMSNorm weights [D] applied to every query / key head before RoPE. */
  qNorm?: TensorRef;
  kNorm?: TensorRef;
  postNorm: TensorRef;
  gate: TensorRef;
  up: TensorRef;
  down: TensorRef;
}

export interface ModelWeights {
  dir: string;
  /** The file the model was opened from when it is one file (a .gguf); absent for a folder. */
  file?: string;
  config: ModelConfig;
  /** The type holding most of the parameters (a few tensors, e.g. norms, may differ). */
  dtype: StoredType;
  /**
   * The weights are decoded at load (GGUF: ggml blocks to float32, Llama's q/k rows reordered), so
   * the graph takes them from the weight file (graph/weightFile.ts), never in place from the file.
   */
  inMemory?: boolean;
  embed: TensorRef;
  finalNorm: TensorRef;
  /** same object as embed when tied */
  lmHead: TensorRef;
  tiedHead: boolean;
  layers: LayerWeights[];
  parameters: number;
}

export const SINGLE_FILE = 'model.safetensors';
export const SHARD_INDEX = 'model.safetensors.index.json';

/** Where each tensor name lives: its file's header, and the file the index promised. */
interface TensorSource {
  lookup(name: string): { header: SafetensorsHeader } | { missingIn: string };
}

function singleFileSource(path: string): TensorSource {
  const header = readSafetensorsHeader(path);
  return { lookup: (name) => (header.tensors.has(name) ? { header } : { missingIn: path }) };
}

function shardedSource(dir: string, indexPath: string): TensorSource {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (e) {
    throw new ModelError(indexPath, `malformed JSON (${(e as Error).message})`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map) || !Object.values(map).every((v) => typeof v === 'string')) {
    throw new ModelError(indexPath, '"weight_map" must map tensor names to shard file names');
  }
  const weightMap = map as Record<string, string>;
  const headers = new Map<string, SafetensorsHeader>();
  // Check every shard the index names up front: a missing shard is the common broken download.
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (headers.has(shard)) continue;
    const shardPath = resolve(dir, shard);
    if (relative(dir, shardPath).startsWith('..')) throw new ModelError(indexPath, `shard "${shard}" (for tensor "${tensor}") lies outside the model folder`);
    if (!existsSync(shardPath)) throw new ModelError(indexPath, `shard "${shard}" (listed for tensor "${tensor}") not found`);
    headers.set(shard, readSafetensorsHeader(shardPath));
  }
  return {
    lookup(name) {
      const shard = weightMap[name];
      if (shard === undefined) return { missingIn: indexPath };
      const header = headers.get(shard)!;
      return header.tensors.has(name) ? { header } : { missingIn: header.path };
    },
  };
}

/** Opens `dir` (config.json + model.safetensors, or a sharded index) and validates it. */
export function openModel(dir: string): ModelWeights {
  const root = resolve(dir);
  const config = loadConfig(root);
  const single = join(root, SINGLE_FILE);
  const index = join(root, SHARD_INDEX);
  let source: TensorSource;
  if (existsSync(single)) source = singleFileSource(single);
  else if (existsSync(index)) source = shardedSource(root, index);
  else throw new ModelError(single, `not found (and no ${SHARD_INDEX} either): the folder has no weights`);

  const seen = new Map<string, TensorRef>();
  const tensor = (name: string, shape: number[]): TensorRef => {
    const found = source.lookup(name);
    if ('missingIn' in found) throw new ModelError(found.missingIn, `missing tensor "${name}" (expected shape [${shape.join(', ')}] for ${config.architecture})`);
    const { header } = found;
    const e = header.tensors.get(name)!;
    if (!SUPPORTED_DTYPES.includes(e.dtype)) throw new ModelError(header.path, `tensor "${name}" has unsupported dtype ${e.dtype} (supported: ${SUPPORTED_DTYPES.join(', ')})`);
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new ModelError(header.path, `tensor "${name}" has shape [${e.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`);
    }
    const ref: TensorRef = {
      name,
      dtype: e.dtype as DType,
      shape: [...e.shape],
      path: header.path,
      file: relative(root, header.path),
      offset: header.dataStart + e.dataOffsets[0],
      byteLength: e.dataOffsets[1] - e.dataOffsets[0],
    };
    seen.set(name, ref);
    return ref;
  };

  const c = config;
  const hidden = c.hiddenSize;
  const qOut = c.queryHeads * c.headDim;
  const kvOut = c.kvHeads * c.headDim;
  const embed = tensor('model.embed_tokens.weight', [c.vocabSize, hidden]);
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}.`;
    const layer: LayerWeights = {
      inputNorm: tensor(`${p}input_layernorm.weight`, [hidden]),
      q: tensor(`${p}self_attn.q_proj.weight`, [qOut, hidden]),
      k: tensor(`${p}self_attn.k_proj.weight`, [kvOut, hidden]),
      v: tensor(`${p}self_attn.v_proj.weight`, [kvOut, hidden]),
      o: tensor(`${p}self_attn.o_proj.weight`, [hidden, qOut]),
      postNorm: tensor(`${p}post_attention_layernorm.weight`, [hidden]),
      gate: tensor(`${p}mlp.gate_proj.weight`, [c.intermediateSize, hidden]),
      up: tensor(`${p}mlp.up_proj.weight`, [c.intermediateSize, hidden]),
      down: tensor(`${p}mlp.down_proj.weight`, [hidden, c.intermediateSize]),
    };
    if (c.attentionBias) {
      layer.qBias = tensor(`${p}self_attn.q_proj.bias`, [qOut]);
      layer.kBias = tensor(`${p}self_attn.k_proj.bias`, [kvOut]);
      layer.vBias = tensor(`${p}self_attn.v_proj.bias`, [kvOut]);
    }
    if (c.qkNorm) {
      layer.qNorm = tensor(`${p}self_attn.q_norm.weight`, [c.headDim]);
      layer.kNorm = tensor(`${p}self_attn.k_norm.weight`, [c.headDim]);
    }
    layers.push(layer);
  }
  const finalNorm = tensor('model.norm.weight', [hidden]);
  // Tied models may still ship a copy of lm_head.weight; transformers ignores it, and so do we.
  const lmHead = c.tieWordEmbeddings ? embed : tensor('lm_head.weight', [c.vocabSize, hidden]);

  let parameters = 0;
  const perDtype = new Map<StoredType, number>();
  for (const ref of seen.values()) {
    const n = elementCount(ref.shape);
    parameters += n;
    perDtype.set(ref.dtype, (perDtype.get(ref.dtype) ?? 0) + n);
  }
  const dtype = [...perDtype.entries()].sort((a, b) => b[1] - a[1])[0][0];

  return { dir: root, config, dtype, embed, finalNorm, lmHead, tiedHead: c.tieWordEmbeddings, layers, parameters };
}

/** Reads a tensor's stored bytes, rows in HF order. */
export function readTensorBytes(ref: TensorRef): Uint8Array {
  // Allocate with float alignment so decoding can view the bytes in place.
  const bytes = new Uint8Array(new ArrayBuffer(Math.ceil(ref.byteLength / 4) * 4), 0, ref.byteLength);
  const fd = openSync(ref.path, 'r');
  try {
    let done = 0;
    while (done < ref.byteLength) {
      const n = readSync(fd, bytes, done, Math.min(ref.byteLength - done, 1 << 30), ref.offset + done);
      if (n === 0) throw new ModelError(ref.path, `truncated while reading tensor "${ref.name}"`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return ref.rows ? reorderRows(bytes, ref.rows) : bytes;
}

/** out row r = in row rows[r]; rows are whole blocks in every stored type, so bytes move as they are. */
function reorderRows(bytes: Uint8Array, rows: Int32Array): Uint8Array {
  const rowBytes = bytes.length / rows.length;
  const out = new Uint8Array(new ArrayBuffer(bytes.buffer.byteLength), 0, bytes.length);
  for (let r = 0; r < rows.length; r++) out.set(bytes.subarray(rows[r] * rowBytes, (rows[r] + 1) * rowBytes), r * rowBytes);
  return out;
}

/** A tensor as float32 (F16/BF16 decoded exactly: both are subsets of float32; ggml blocks as ggml decodes them). */
export function readTensor(ref: TensorRef): Float32Array {
  const bytes = readTensorBytes(ref);
  // F32 needs no decoding: view the freshly read (aligned, unshared) buffer instead of copying.
  if (ref.dtype === 'F32') return new Float32Array(bytes.buffer, 0, ref.byteLength / 4);
  if (ref.dtype === 'F16' || ref.dtype === 'BF16') return decodeFloats(bytes, ref.dtype);
  return dequantize(ggmlType(ref.dtype), bytes, elementCount(ref.shape));
}

/**
 * Rows [from, to) of a 2-D tensor as float32, read from the file alone: a load that quantizes
 * holds one slab of a large matrix (an 8B model's LM head is 2 GB in float32), never all of it.
 */
export function readRows(ref: TensorRef, from: number, to: number): Float32Array {
  const [rows, cols] = ref.shape;
  if (ref.shape.length !== 2 || !(0 <= from && from <= to && to <= rows)) throw new Error(`readRows: rows [${from}, ${to}) of ${ref.name} [${ref.shape.join(', ')}]`);
  // Reordered rows (GGUF Llama q/k) are not contiguous in the file: those matrices are small enough to read whole.
  if (ref.rows) return readTensor(ref).slice(from * cols, to * cols);
  const rowBytes = ref.byteLength / rows;
  return readTensor({ ...ref, shape: [to - from, cols], offset: ref.offset + from * rowBytes, byteLength: (to - from) * rowBytes });
}

/** A tensor as float64, for reference computations. */
export function readTensor64(ref: TensorRef): Float64Array {
  return Float64Array.from(readTensor(ref));
}
