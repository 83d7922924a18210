// Part of the protocol (core/protocol/): the ThinK and cache settings that the extension sends to
// the runtime, that the runtime reports back and that the webviews show. Imports nothing.

/** Query-driven key-channel pruning, as in ThinK (ICLR 2025), plus our generated-key flush. */
export interface ThinkSettings {
  /** λ: fraction of key channels dropped per layer and KV head (0 = no pruning). One value, or one per layer. */
  ratio: number | number[];
  /** w: observation window, the last prompt positions whose queries score the channels. */
  window: number;
  /** The last `recent` prompt tokens keep full keys. */
  recent: number;
  /** When more than `flush` full-key tokens accumulate, the oldest are pruned with their head's mask (0 disables). */
  flush: number;
}

export const DEFAULT_THINK: ThinkSettings = { ratio: 0.5, window: 32, recent: 32, flush: 128 };

/** Token eviction after prefill, before channel pruning (docs/compression.md). */
export interface EvictSettings {
  method: 'snapkv' | 'h2o';
  /** B: prefix tokens kept besides the observation window. */
  tokenBudget: number;
  /** Observation window (default 32). */
  window: number;
  /** SnapKV max-pool kernel (default 7; H2O ignores it). */
  kernel: number;
}

/** What composes with ThinK (docs/compression.md). */
export interface CompressionSettings {
  evict: EvictSettings | null;
  /** KIVI quantization of compressed tokens' keys (per channel) and values (per token). */
  kvBits: 2 | 4 | null;
  /** Fraction of value channels dropped for compressed tokens (0 = off). */
  pruneValues: number;
}

export const DEFAULT_COMPRESSION: CompressionSettings = { evict: null, kvBits: null, pruneValues: 0 };

export type Device = 'cpu' | 'webgpu' | 'cuda';

/**
 * How the cache stores the keys and values that are not KIVI codes. float16 (the default, and
 * llama.cpp's default cache type) takes half of float32's bytes; the graph widens it to float32
 * where the CPU kernels compute. float32 keeps the cache bit-exact with a float32 forward.
 */
export type CachePrecision = 'float16' | 'float32';

export const DEFAULT_CACHE_PRECISION: CachePrecision = 'float16';
