// Random-weight models of real shapes: a real config.json (and optionally a real tokenizer)
// with seeded random weights, for speed and memory benchmarks and for engine tests.
// Tensors are generated and written in chunks, so a multi-gigabyte model never sits in memory,
// and each tensor's values depend only on (seed, tensor name), so single-file and sharded
// writes of the same seed hold identical weights.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, type ModelConfig } from './config';
import { ModelError } from './errors';
import { encodeFloats, elementCount, SafetensorsWriter, DTYPE_BYTES, type TensorSpec } from './safetensors';
import { SHARD_INDEX, SINGLE_FILE, type DType } from './weights';

export interface MakeRandomOptions {
  /** a HF config.json object */
  config: Record<string, unknown>;
  outDir: string;
  dtype: DType;
  seed: number;
  /** >1 writes model-0000N-of-0000M.safetensors + index.json */
  shards?: number;
  /** copy tokenizer.json / tokenizer_config.json (+ chat template) from here */
  tokenizerDir?: string;
  /** Standard deviation of weight matrices, embeddings and biases (default 0.02, HF's usual initializer_range). */
  std?: number;
}

/** Files besides the weights that make a folder a usable model, copied when present. */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'chat_template.json', 'generation_config.json'];

const TORCH_DTYPE: Record<DType, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** Norm weights are 1 plus noise of this half-width: near 1, as in trained models, yet not all equal. */
const NORM_NOISE = 0.1;

const CHUNK_ELEMENTS = 1 << 20;

interface RandomTensor extends TensorSpec {
  /** 'norm' -> 1 + noise; 'dense' -> zero-mean with the requested std */
  kind: 'norm' | 'dense';
}

/** The HF tensor list a config implies, in model order. */
export function expectedTensors(c: ModelConfig, dtype: DType): RandomTensor[] {
  const out: RandomTensor[] = [];
  const add = (name: string, shape: number[], kind: RandomTensor['kind'] = 'dense') => out.push({ name, dtype, shape, kind });
  const qOut = c.queryHeads * c.headDim;
  const kvOut = c.kvHeads * c.headDim;
  add('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize]);
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}.`;
    add(`${p}input_layernorm.weight`, [c.hiddenSize], 'norm');
    add(`${p}self_attn.q_proj.weight`, [qOut, c.hiddenSize]);
    add(`${p}self_attn.k_proj.weight`, [kvOut, c.hiddenSize]);
    add(`${p}self_attn.v_proj.weight`, [kvOut, c.hiddenSize]);
    if (c.attentionBias) {
      add(`${p}self_attn.q_proj.bias`, [qOut]);
      add(`${p}self_attn.k_proj.bias`, [kvOut]);
      add(`${p}self_attn.v_proj.bias`, [kvOut]);
    }
    if (c.qkNorm) {
      add(`${p}self_attn.q_norm.weight`, [c.headDim], 'norm');
      add(`${p}self_attn.k_norm.weight`, [c.headDim], 'norm');
    }
    add(`${p}self_attn.o_proj.weight`, [c.hiddenSize, qOut]);
    add(`${p}post_attention_layernorm.weight`, [c.hiddenSize], 'norm');
    add(`${p}mlp.gate_proj.weight`, [c.intermediateSize, c.hiddenSize]);
    add(`${p}mlp.up_proj.weight`, [c.intermediateSize, c.hiddenSize]);
    add(`${p}mlp.down_proj.weight`, [c.hiddenSize, c.intermediateSize]);
  }
  add('model.norm.weight', [c.hiddenSize], 'norm');
  if (!c.tieWordEmbeddings) add('lm_head.weight', [c.vocabSize, c.hiddenSize]);
  return out;
}

/** FNV-1a over the name, mixed with the seed: an independent stream per tensor. */
function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (Math.floor(seed / 2 ** 32) >>> 0), 0x9e3779b1);
  return h >>> 0;
}

/** mulberry32: tiny, fast, good enough statistically for random weights. */
function fillUniform(out: Float32Array, state: { s: number }, center: number, halfWidth: number): void {
  let s = state.s;
  for (let i = 0; i < out.length; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296; // [0, 1)
    out[i] = center + (2 * u - 1) * halfWidth;
  }
  state.s = s;
}

/** Which shard each tensor goes to: contiguous runs of about equal bytes, none empty. */
function assignShards(sizes: number[], shards: number): number[] {
  const total = sizes.reduce((a, b) => a + b, 0) || 1;
  const out: number[] = [];
  let cum = 0;
  let prev = 0;
  for (let i = 0; i < sizes.length; i++) {
    let k = Math.min(shards - 1, Math.floor(((cum + sizes[i] / 2) * shards) / total));
    k = Math.max(k, shards - (sizes.length - i), prev);
    k = i === 0 ? 0 : Math.min(k, prev + 1);
    out.push(k);
    prev = k;
    cum += sizes[i];
  }
  return out;
}

function shardName(i: number, n: number): string {
  const pad = (x: number) => String(x).padStart(5, '0');
  return `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
}

/** Removes weight files a previous run left, so the folder cannot mix two layouts. */
function clearOldWeights(dir: string): void {
  for (const name of readdirSync(dir)) {
    if (name === SINGLE_FILE || name === SHARD_INDEX || /^model-\d+-of-\d+\.safetensors$/.test(name)) rmSync(join(dir, name));
  }
}

export async function makeRandomModel(o: MakeRandomOptions): Promise<void> {
  const configPath = join(o.outDir, 'config.json');
  const config = parseConfig(o.config, configPath);
  const std = o.std ?? 0.02;
  if (!(std > 0 && Number.isFinite(std))) throw new Error(`makeRandomModel: std must be a positive number, got ${std}`);
  const shards = o.shards ?? 1;
  if (!Number.isInteger(shards) || shards < 1) throw new Error(`makeRandomModel: shards must be a positive integer, got ${shards}`);
  const tensors = expectedTensors(config, o.dtype);
  if (shards > tensors.length) throw new Error(`makeRandomModel: ${shards} shards for only ${tensors.length} tensors`);
  if (o.tokenizerDir && !existsSync(join(o.tokenizerDir, 'tokenizer.json'))) throw new ModelError(join(o.tokenizerDir, 'tokenizer.json'), 'not found (tokenizerDir must hold a tokenizer.json)');

  mkdirSync(o.outDir, { recursive: true });
  clearOldWeights(o.outDir);
  writeFileSync(configPath, JSON.stringify({ ...o.config, torch_dtype: TORCH_DTYPE[o.dtype] }, null, 2) + '\n');
  if (o.tokenizerDir) {
    // Copy contents, not modes: shared model folders are often read-only, and a later run must
    // be able to overwrite these copies.
    for (const f of TOKENIZER_FILES) if (existsSync(join(o.tokenizerDir, f))) writeFileSync(join(o.outDir, f), readFileSync(join(o.tokenizerDir, f)));
  }

  // Uniform on [-a, a) has std a / sqrt(3).
  const halfWidth = std * Math.sqrt(3);
  const sizes = tensors.map((t) => elementCount(t.shape) * DTYPE_BYTES[t.dtype]);
  const shardOf = shards > 1 ? assignShards(sizes, shards) : tensors.map(() => 0);
  const weightMap: Record<string, string> = {};
  const chunk = new Float32Array(CHUNK_ELEMENTS);
  for (let k = 0; k < shards; k++) {
    const mine = tensors.filter((_, i) => shardOf[i] === k);
    const file = shards > 1 ? shardName(k, shards) : SINGLE_FILE;
    const writer = new SafetensorsWriter(join(o.outDir, file), mine, { format: 'pt' });
    try {
      for (const t of mine) {
        weightMap[t.name] = file;
        const state = { s: tensorSeed(o.seed, t.name) };
        const n = elementCount(t.shape);
        for (let done = 0; done < n; done += CHUNK_ELEMENTS) {
          const part = chunk.subarray(0, Math.min(CHUNK_ELEMENTS, n - done));
          if (t.kind === 'norm') fillUniform(part, state, 1, NORM_NOISE);
          else fillUniform(part, state, 0, halfWidth);
          writer.write(encodeFloats(part, t.dtype));
        }
        // Let the event loop breathe between tensors (progress output, cancellation).
        await new Promise<void>((r) => setImmediate(r));
      }
    } catch (e) {
      writer.abort();
      throw e;
    }
    writer.close();
  }
  if (shards > 1) {
    const totalSize = sizes.reduce((a, b) => a + b, 0);
    writeFileSync(join(o.outDir, SHARD_INDEX), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n');
  }
}
