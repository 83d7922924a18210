// Small random models of every supported variant, written through the real makeRandomModel so
// engine tests exercise the same loading path as real models. Shapes are tiny (fast float64
// reference) and the weight std is large enough that greedy choices are well separated, so a
// float32 engine and the float64 reference pick the same tokens.
import { makeRandomModel } from '../../runtime/model/makeRandom';
import type { DType } from '../../runtime/model/weights';

export type TinyVariant = 'llama' | 'llama-tied' | 'llama3-rope' | 'qwen2' | 'mistral' | 'llama-headdim' | 'qwen3' | 'qwen3-yarn';

export const TINY_VARIANTS: readonly TinyVariant[] = ['llama', 'llama-tied', 'llama3-rope', 'qwen2', 'mistral', 'llama-headdim', 'qwen3', 'qwen3-yarn'];

/** Weight std of the tiny models: logits spread over several units (HF's 0.02 would leave them nearly flat). */
export const TINY_STD = 0.25;

const BASE = {
  hidden_act: 'silu',
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 256,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  bos_token_id: 1,
  eos_token_id: 2,
};

/** The HF config.json of each variant (head_dim 16 unless the variant says otherwise). */
export function tinyConfig(variant: TinyVariant): Record<string, unknown> {
  const llama = { architectures: ['LlamaForCausalLM'], model_type: 'llama', attention_bias: false, mlp_bias: false };
  switch (variant) {
    case 'llama':
      return { ...llama, ...BASE, tie_word_embeddings: false };
    case 'llama-tied':
      return { ...llama, ...BASE, tie_word_embeddings: true };
    case 'llama3-rope':
      // original_max_position_embeddings far below the context so all three frequency bands
      // (kept, interpolated, divided) occur with head_dim 16 and a low theta.
      return {
        ...llama,
        ...BASE,
        rope_theta: 500,
        tie_word_embeddings: false,
        eos_token_id: [2, 3],
        rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
      };
    case 'qwen2':
      return { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', ...BASE, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true, use_sliding_window: false, sliding_window: 4096, bos_token_id: null };
    case 'mistral':
      // One KV head for all four query heads: the widest GQA group of the set.
      return { architectures: ['MistralForCausalLM'], model_type: 'mistral', ...BASE, num_key_value_heads: 1, head_dim: 16, rope_theta: 1000000, tie_word_embeddings: false, sliding_window: null };
    case 'qwen3':
      // Qwen3 shape traits: explicit head_dim with 4 x 24 = 96 != hidden 64, q_norm/k_norm, tied head.
      return { architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', ...BASE, head_dim: 24, rms_norm_eps: 1e-6, rope_theta: 1000000, attention_bias: false, tie_word_embeddings: true, use_sliding_window: false, sliding_window: null, bos_token_id: null };
    case 'qwen3-yarn':
      // YaRN with an original context far below the positions used, and a low theta, so the ramp
      // has kept, interpolated and blended dimensions at head_dim 16; attention factor 0.1 ln 4 + 1.
      return {
        architectures: ['Qwen3ForCausalLM'],
        model_type: 'qwen3',
        ...BASE,
        head_dim: 16,
        rope_theta: 500,
        attention_bias: false,
        tie_word_embeddings: false,
        rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 64 },
      };
    case 'llama-headdim':
      // 4 heads x head_dim 24 = 96 != hidden 64: projections are not square.
      return { ...llama, ...BASE, head_dim: 24, tie_word_embeddings: false };
  }
}

/**
 * A one-layer Llama carrying a real tokenizer's vocabulary (SmolLM2's 49,152 tokens): small weights,
 * real text in and out, for tokenizer and GGUF round trips.
 */
export function tinyConfigWithVocab(vocabSize: number): Record<string, unknown> {
  return {
    ...tinyConfig('llama'),
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    vocab_size: vocabSize,
    tie_word_embeddings: true,
  };
}

export async function writeTinyModel(
  dir: string,
  variant: TinyVariant,
  opts: { dtype?: DType; shards?: number; seed?: number; tokenizerDir?: string } = {},
): Promise<void> {
  await makeRandomModel({
    config: tinyConfig(variant),
    outDir: dir,
    dtype: opts.dtype ?? 'F32',
    // A different default seed per variant, so variants of equal shape still differ.
    seed: opts.seed ?? 1000 + TINY_VARIANTS.indexOf(variant),
    shards: opts.shards,
    tokenizerDir: opts.tokenizerDir,
    std: TINY_STD,
  });
}
