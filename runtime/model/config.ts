// config.json -> ModelConfig: the typed, validated subset of a Hugging Face config that the
// runtime needs. Everything the graph or the cache relies on is checked here, once, so that
// later code can trust the numbers (heads divide evenly, head_dim is even for RoPE, ...).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelError } from './errors';

export type Architecture = 'LlamaForCausalLM' | 'MistralForCausalLM' | 'Qwen2ForCausalLM' | 'Qwen3ForCausalLM';

export const SUPPORTED_ARCHITECTURES: readonly Architecture[] = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM', 'Qwen3ForCausalLM'];

/** model_type values that identify an architecture when `architectures` is absent. */
const MODEL_TYPES: Record<string, Architecture> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
};

/** Llama 3.1's frequency rescaling (transformers' _compute_llama3_parameters). */
export interface Llama3Scaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/**
 * YaRN (arXiv 2309.00071), as transformers 5 computes it: frequencies blended between the original
 * and the `factor`-interpolated ones over a ramp of dimensions set by beta_fast/beta_slow, and cos/sin
 * multiplied by `attentionFactor`.
 */
export interface YarnScaling {
  type: 'yarn';
  factor: number;
  originalMaxPositionEmbeddings: number;
  attentionFactor: number;
  betaFast: number;
  betaSlow: number;
  /** Round the ramp's ends to whole dimensions (transformers' default). */
  truncate: boolean;
}

/**
 * Per-dimension divisors of the inverse frequencies, as GGUF files carry Llama 3.1's rescaling
 * (llama.cpp's `rope_freqs.weight` tensor: theta_i = pos * inv_freq_i / factors_i).
 */
export interface FreqFactorScaling {
  type: 'factors';
  factors: Float64Array;
}

export type RopeScaling = Llama3Scaling | YarnScaling | FreqFactorScaling;

export interface ModelConfig {
  architecture: Architecture;
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  queryHeads: number;
  kvHeads: number;
  /** config head_dim when given, else hidden / heads */
  headDim: number;
  vocabSize: number;
  /**
   * Positions the model may attend over. max_position_embeddings, lowered to sliding_window
   * when a sliding window is active and smaller (see parseConfig).
   */
  contextLength: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** Qwen2: true (q/k/v biases) */
  attentionBias: boolean;
  /** Qwen3: an RMSNorm over head_dim on every query and key head, before RoPE (q_norm, k_norm). */
  qkNorm: boolean;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

type Json = Record<string, unknown>;

class Reader {
  constructor(
    private readonly obj: Json,
    private readonly file: string,
  ) {}

  fail(fault: string): never {
    throw new ModelError(this.file, fault);
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  positiveInt(key: string, fallback?: number): number {
    const v = this.obj[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      this.fail(`missing "${key}"`);
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) this.fail(`"${key}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  }

  positiveNumber(key: string, fallback: number): number {
    const v = this.obj[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(`"${key}" must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.obj[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(`"${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  tokenId(key: string): number | null {
    const v = this.obj[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(`"${key}" must be a token id, got ${JSON.stringify(v)}`);
    return v;
  }

  tokenIds(key: string): number[] {
    const v = this.obj[key];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    for (const id of list) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) this.fail(`"${key}" must be a token id or a list of them, got ${JSON.stringify(v)}`);
    }
    return [...new Set(list as number[])];
  }
}

function architectureOf(r: Reader, json: Json): Architecture {
  const archs = json.architectures;
  if (archs !== undefined && archs !== null) {
    if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== 'string') r.fail(`"architectures" must be a non-empty list of names, got ${JSON.stringify(archs)}`);
    const name = archs[0] as string;
    if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(name)) r.fail(`unsupported architecture "${name}" (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
    return name as Architecture;
  }
  const type = json.model_type;
  if (typeof type === 'string' && MODEL_TYPES[type]) return MODEL_TYPES[type];
  r.fail(
    type === undefined
      ? `neither "architectures" nor "model_type" is given (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`
      : `unsupported model_type ${JSON.stringify(type)} (supported: ${Object.keys(MODEL_TYPES).join(', ')})`,
  );
}

function ropeScalingOf(r: Reader, raw: unknown, maxPositions: number): RopeScaling | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) r.fail(`"rope_scaling" must be an object or null, got ${JSON.stringify(raw)}`);
  const o = raw as Json;
  // transformers renamed "type" to "rope_type"; configs in the wild carry either.
  const kind = o.rope_type ?? o.type;
  if (kind === 'default') return null;
  const num = (key: string, fallback?: number): number => {
    const v = o[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) r.fail(`rope_scaling "${key}" must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  if (kind === 'yarn') return yarnScalingOf(r, o, num, maxPositions);
  if (kind !== 'llama3') r.fail(`unsupported rope_scaling type ${JSON.stringify(kind)} (supported: llama3, yarn, or none)`);
  const scaling: Llama3Scaling = {
    type: 'llama3',
    factor: num('factor'),
    lowFreqFactor: num('low_freq_factor'),
    highFreqFactor: num('high_freq_factor'),
    originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
  };
  // The smoothing step divides by (high - low); equal factors would make it 0/0.
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) r.fail(`rope_scaling "high_freq_factor" (${scaling.highFreqFactor}) must exceed "low_freq_factor" (${scaling.lowFreqFactor})`);
  return scaling;
}

/**
 * YaRN's parameters with transformers 5's defaults: the original context is
 * original_max_position_embeddings (else max_position_embeddings); `factor` is taken as given
 * (transformers 4.4x-4.5x replaced it by max_position_embeddings / original when both were set,
 * which vLLM and llama.cpp do not; version 5 went back to the given factor); the attention factor
 * is 0.1 ln(factor) + 1, or the ratio of the two mscale terms when mscale and mscale_all_dim are set.
 */
function yarnScalingOf(r: Reader, o: Json, num: (key: string, fallback?: number) => number, maxPositions: number): YarnScaling {
  const original = num('original_max_position_embeddings', maxPositions);
  const factor = num('factor', maxPositions / original);
  const mscale = (scale: number, m: number) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
  const m = o.mscale;
  const mAll = o.mscale_all_dim;
  const attentionFactor =
    o.attention_factor !== undefined && o.attention_factor !== null
      ? num('attention_factor')
      : typeof m === 'number' && m && typeof mAll === 'number' && mAll
        ? mscale(factor, m) / mscale(factor, mAll)
        : mscale(factor, 1);
  const betaFast = num('beta_fast', 32);
  const betaSlow = num('beta_slow', 1);
  if (betaFast < betaSlow) r.fail(`rope_scaling "beta_fast" (${betaFast}) must not be below "beta_slow" (${betaSlow})`);
  const truncate = o.truncate ?? true;
  if (typeof truncate !== 'boolean') r.fail(`rope_scaling "truncate" must be true or false, got ${JSON.stringify(truncate)}`);
  return { type: 'yarn', factor, originalMaxPositionEmbeddings: original, attentionFactor, betaFast, betaSlow, truncate };
}

/**
 * Validates a parsed config.json. `file` names the source in error messages.
 *
 * Sliding windows (Mistral `sliding_window`, Qwen2 with `use_sliding_window`): within the window
 * sliding-window attention is exactly full attention, so when the window is smaller than
 * max_position_embeddings the context is lowered to the window instead of rejecting the model.
 */
export function parseConfig(json: unknown, file: string): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelError(file, 'config must be a JSON object');
  const o = json as Json;
  const r = new Reader(o, file);
  const architecture = architectureOf(r, o);

  const act = o.hidden_act ?? o.hidden_activation;
  if (act !== undefined && act !== null && act !== 'silu' && act !== 'swish') r.fail(`unsupported hidden_act ${JSON.stringify(act)} (supported: silu)`);
  if (r.bool('mlp_bias', false)) r.fail('"mlp_bias": true is not supported (MLP projections without bias only)');

  const hiddenSize = r.positiveInt('hidden_size');
  const intermediateSize = r.positiveInt('intermediate_size');
  const layers = r.positiveInt('num_hidden_layers');
  const queryHeads = r.positiveInt('num_attention_heads');
  const kvHeads = r.positiveInt('num_key_value_heads', queryHeads);
  if (queryHeads % kvHeads !== 0) r.fail(`num_attention_heads (${queryHeads}) is not a multiple of num_key_value_heads (${kvHeads})`);
  // Qwen3's config class defaults head_dim to 128 rather than hidden / heads.
  const qwen3 = architecture === 'Qwen3ForCausalLM';
  if (!qwen3 && !r.has('head_dim') && hiddenSize % queryHeads !== 0) r.fail(`hidden_size (${hiddenSize}) is not a multiple of num_attention_heads (${queryHeads}) and no head_dim is given`);
  const headDim = r.positiveInt('head_dim', qwen3 ? 128 : hiddenSize / queryHeads);
  if (headDim % 2 !== 0) r.fail(`head_dim ${headDim} is odd; rotary embeddings need an even head_dim`);
  const vocabSize = r.positiveInt('vocab_size');
  const maxPositions = r.positiveInt('max_position_embeddings');

  let contextLength = maxPositions;
  const slidingActive = architecture === 'MistralForCausalLM' || ((architecture === 'Qwen2ForCausalLM' || qwen3) && r.bool('use_sliding_window', false));
  if (slidingActive && r.has('sliding_window')) {
    const window = r.positiveInt('sliding_window');
    contextLength = Math.min(contextLength, window);
  }

  // Qwen2 always has q/k/v biases. Llama's and Qwen3's attention_bias also put a bias on o_proj,
  // which this runtime's graph has no input for: reject rather than silently drop it.
  let attentionBias = false;
  if (architecture === 'Qwen2ForCausalLM') attentionBias = true;
  else if (r.bool('attention_bias', false)) r.fail(`"attention_bias": true is not supported for ${architecture} (it adds an o_proj bias)`);

  // transformers 5 moves rope_theta and the scaling into one "rope_parameters" object.
  let ropeTheta = r.positiveNumber('rope_theta', 10000);
  let ropeScaling = ropeScalingOf(r, o.rope_scaling, maxPositions);
  const params = o.rope_parameters;
  if (params !== undefined && params !== null) {
    if (typeof params !== 'object' || Array.isArray(params)) r.fail(`"rope_parameters" must be an object, got ${JSON.stringify(params)}`);
    const p = params as Json;
    ropeTheta = new Reader(p, file).positiveNumber('rope_theta', ropeTheta);
    if ((p.rope_type ?? p.type) !== undefined) ropeScaling = ropeScalingOf(r, p, maxPositions);
  }

  const bosTokenId = r.tokenId('bos_token_id');
  const eosTokenIds = r.tokenIds('eos_token_id');
  for (const id of [bosTokenId, ...eosTokenIds]) {
    if (id !== null && id >= vocabSize) r.fail(`special token id ${id} is outside the vocabulary (vocab_size ${vocabSize})`);
  }

  return {
    architecture,
    hiddenSize,
    intermediateSize,
    layers,
    queryHeads,
    kvHeads,
    headDim,
    vocabSize,
    contextLength,
    rmsNormEps: r.positiveNumber('rms_norm_eps', 1e-6),
    ropeTheta,
    ropeScaling,
    attentionBias,
    qkNorm: qwen3,
    // transformers' Llama, Mistral, Qwen2 and Qwen3 configs all default to untied.
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    bosTokenId,
    eosTokenIds,
  };
}

/** Reads and validates `<dir>/config.json`. */
export function loadConfig(dir: string): ModelConfig {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) throw new ModelError(file, 'not found (a model folder needs the config.json of its Hugging Face repository)');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ModelError(file, `cannot be read (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModelError(file, `malformed JSON (${(e as Error).message})`);
  }
  return parseConfig(json, file);
}
