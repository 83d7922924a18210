// A GGUF file (llama.cpp, Ollama, LM Studio) as ModelWeights: its metadata becomes the config a
// Hugging Face config.json would give (validated by the same parseConfig), its tensors are mapped
// to the HF names' roles with HF shapes, and Llama's q/k rows are put back in HF order.
//
// Layout facts (llama.cpp's convert_hf_to_gguf.py): dims are stored innermost first, so a HF
// [out, in] matrix is GGUF [in, out]; the 'llama' architecture keeps q_proj / k_proj rows in
// adjacent-pair RoPE order (HF row p * D/2 + i is stored as row 2i + p, per head), 'qwen2' and
// 'qwen3' keep HF's rotate-half order; a tied LM head has no output.weight; Llama 3.1's RoPE
// rescaling is a `rope_freqs.weight` tensor of per-dimension divisors.
import { basename, dirname, resolve } from 'node:path';
import { parseConfig, type Architecture, type ModelConfig } from '../config';
import { ModelError } from '../errors';
import { elementCount } from '../safetensors';
import { readTensor, type LayerWeights, type ModelWeights, type StoredType, type TensorRef } from '../weights';
import { GgufMetadata, readGguf, type GgufFile } from './file';
import { READABLE_TYPES } from './types';

const ARCHITECTURES: Record<string, Architecture> = {
  llama: 'LlamaForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
};

/** The HF config.json a GGUF's metadata stands for (then validated by parseConfig). */
export function ggufConfig(file: GgufFile): ModelConfig {
  const m = new GgufMetadata(file);
  const arch = m.string('general.architecture');
  const architecture = ARCHITECTURES[arch];
  if (!architecture) throw new ModelError(file.path, `unsupported general.architecture "${arch}" (supported: ${Object.keys(ARCHITECTURES).join(', ')})`);
  const key = (k: string) => `${arch}.${k}`;
  const hidden = m.positiveInt(key('embedding_length'));
  const heads = m.positiveInt(key('attention.head_count'));
  const tokens = m.strings('tokenizer.ggml.tokens', true);
  const vocab = m.has(key('vocab_size')) ? m.positiveInt(key('vocab_size')) : tokens?.length;
  if (!vocab) throw new ModelError(file.path, `missing metadata "${key('vocab_size')}" (and no tokenizer.ggml.tokens to count)`);
  const eos = m.has('tokenizer.ggml.eos_token_id') ? m.number('tokenizer.ggml.eos_token_id') : null;
  const eot = m.has('tokenizer.ggml.eot_token_id') ? m.number('tokenizer.ggml.eot_token_id') : null;
  const json: Record<string, unknown> = {
    architectures: [architecture],
    hidden_size: hidden,
    intermediate_size: m.positiveInt(key('feed_forward_length')),
    num_hidden_layers: m.positiveInt(key('block_count')),
    num_attention_heads: heads,
    num_key_value_heads: m.positiveInt(key('attention.head_count_kv'), heads),
    head_dim: m.positiveInt(key('attention.key_length'), hidden / heads),
    vocab_size: vocab,
    max_position_embeddings: m.positiveInt(key('context_length')),
    rms_norm_eps: m.number(key('attention.layer_norm_rms_epsilon'), 1e-6),
    rope_theta: m.number(key('rope.freq_base'), 10000),
    tie_word_embeddings: !file.tensors.has('output.weight'),
    bos_token_id: m.has('tokenizer.ggml.bos_token_id') ? m.number('tokenizer.ggml.bos_token_id') : null,
    eos_token_id: [eos, eot].filter((id): id is number => id !== null),
  };
  const scaling = m.string(key('rope.scaling.type'), null);
  if (scaling === 'yarn') {
    json.rope_scaling = {
      rope_type: 'yarn',
      factor: m.number(key('rope.scaling.factor')),
      original_max_position_embeddings: m.positiveInt(key('rope.scaling.original_context_length'), json.max_position_embeddings as number),
    };
  } else if (scaling !== null && scaling !== 'none') {
    throw new ModelError(file.path, `unsupported ${key('rope.scaling.type')} "${scaling}" (supported: yarn, none)`);
  }
  const config = parseConfig(json, file.path);
  const freqs = file.tensors.get('rope_freqs.weight');
  if (freqs) {
    if (config.ropeScaling) throw new ModelError(file.path, 'rope_freqs.weight and a rope.scaling.type together are not supported');
    const ref: TensorRef = { name: freqs.name, dtype: freqs.type.name as StoredType, shape: [...freqs.dims].reverse(), path: file.path, file: basename(file.path), offset: freqs.offset, byteLength: freqs.byteLength };
    const factors = Float64Array.from(readTensor(ref));
    if (factors.length !== config.headDim / 2) throw new ModelError(file.path, `rope_freqs.weight has ${factors.length} values, expected head_dim / 2 = ${config.headDim / 2}`);
    return { ...config, ropeScaling: { type: 'factors', factors } };
  }
  return config;
}

/** HF row r of a head-major q/k matrix -> its GGUF row (adjacent-pair order), for `heads` heads of D rows. */
export function rotaryRowOrder(heads: number, D: number): Int32Array {
  const rows = new Int32Array(heads * D);
  const half = D / 2;
  for (let h = 0; h < heads; h++) for (let p = 0; p < 2; p++) for (let i = 0; i < half; i++) rows[h * D + p * half + i] = h * D + 2 * i + p;
  return rows;
}

/** Opens a .gguf file as ModelWeights (header and tensor table only; no weight bytes are read). */
export function openGguf(path: string, file: GgufFile = readGguf(resolve(path))): ModelWeights {
  const abs = resolve(path);
  const config = ggufConfig(file);
  const arch = new GgufMetadata(file).string('general.architecture');
  const dir = dirname(abs);
  const used = new Set<string>();

  const tensor = (name: string, shape: number[], rows?: Int32Array): TensorRef => {
    const t = file.tensors.get(name);
    if (!t) throw new ModelError(abs, `missing tensor "${name}" (expected shape [${shape.join(', ')}] for ${config.architecture})`);
    if (!t.type.readable) throw new ModelError(abs, `tensor "${name}" has ggml type ${t.type.name}, which this runtime cannot read (supported: ${READABLE_TYPES.join(', ')})`);
    const hfShape = [...t.dims].reverse();
    if (hfShape.length !== shape.length || hfShape.some((d, i) => d !== shape[i]))
      throw new ModelError(abs, `tensor "${name}" has shape [${hfShape.join(', ')}] (HF order) but the metadata implies [${shape.join(', ')}]`);
    used.add(name);
    return { name, dtype: t.type.name as StoredType, shape, path: abs, file: basename(abs), offset: t.offset, byteLength: t.byteLength, ...(rows ? { rows } : {}) };
  };

  const c = config;
  const D = c.headDim;
  const hidden = c.hiddenSize;
  const qOut = c.queryHeads * D;
  const kvOut = c.kvHeads * D;
  const pairOrder = arch === 'llama';
  const qRows = pairOrder ? rotaryRowOrder(c.queryHeads, D) : undefined;
  const kRows = pairOrder ? rotaryRowOrder(c.kvHeads, D) : undefined;
  const optional = (name: string, shape: number[], rows?: Int32Array) => (file.tensors.has(name) ? tensor(name, shape, rows) : undefined);

  const embed = tensor('token_embd.weight', [c.vocabSize, hidden]);
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.layers; i++) {
    const p = `blk.${i}.`;
    const layer: LayerWeights = {
      inputNorm: tensor(`${p}attn_norm.weight`, [hidden]),
      q: tensor(`${p}attn_q.weight`, [qOut, hidden], qRows),
      k: tensor(`${p}attn_k.weight`, [kvOut, hidden], kRows),
      v: tensor(`${p}attn_v.weight`, [kvOut, hidden]),
      o: tensor(`${p}attn_output.weight`, [hidden, qOut]),
      postNorm: tensor(`${p}ffn_norm.weight`, [hidden]),
      gate: tensor(`${p}ffn_gate.weight`, [c.intermediateSize, hidden]),
      up: tensor(`${p}ffn_up.weight`, [c.intermediateSize, hidden]),
      down: tensor(`${p}ffn_down.weight`, [hidden, c.intermediateSize]),
    };
    const qBias = optional(`${p}attn_q.bias`, [qOut], qRows);
    const kBias = optional(`${p}attn_k.bias`, [kvOut], kRows);
    const vBias = optional(`${p}attn_v.bias`, [kvOut]);
    if (c.attentionBias) {
      if (!qBias || !kBias || !vBias) throw new ModelError(abs, `missing tensor "${p}attn_q.bias" / attn_k.bias / attn_v.bias (${c.architecture} has q/k/v biases)`);
      Object.assign(layer, { qBias, kBias, vBias });
    } else if (qBias || kBias || vBias) {
      throw new ModelError(abs, `tensor "${p}attn_q.bias" (or k/v): attention biases are not supported for ${c.architecture}`);
    }
    if (c.qkNorm) {
      layer.qNorm = tensor(`${p}attn_q_norm.weight`, [D]);
      layer.kNorm = tensor(`${p}attn_k_norm.weight`, [D]);
    }
    layers.push(layer);
  }
  const finalNorm = tensor('output_norm.weight', [hidden]);
  const lmHead = c.tieWordEmbeddings ? embed : tensor('output.weight', [c.vocabSize, hidden]);
  if (file.tensors.has('rope_freqs.weight')) used.add('rope_freqs.weight');

  let parameters = 0;
  const perType = new Map<StoredType, number>();
  for (const name of used) {
    const t = file.tensors.get(name)!;
    const n = elementCount(t.dims);
    parameters += n;
    perType.set(t.type.name as StoredType, (perType.get(t.type.name as StoredType) ?? 0) + n);
  }
  const dtype = [...perType.entries()].sort((a, b) => b[1] - a[1])[0][0];
  return { dir, file: abs, config, dtype, embed, finalNorm, lmHead, tiedHead: c.tieWordEmbeddings, layers, parameters, inMemory: true };
}
