// Part of the protocol (core/protocol/): the runtime's JSON-RPC, extension host <-> runtime
// process over stdio (vscode-jsonrpc). Imports only the rest of the protocol.

import type { CachePrecision, CompressionSettings, Device, ThinkSettings } from './settings';
export interface LoadParams {
  /** A Hugging Face model folder (config.json, *.safetensors, tokenizer.json). */
  modelDir: string;
  device?: Device;
  think?: Partial<ThinkSettings>;
  /** Override the model's max_position_embeddings (benchmarks on random weights only). */
  contextLength?: number;
  /** Quantize linear-layer weights at load (MatMulNBits, blocks of 32); absent: the file's weights, computed in float32. */
  quantize?: 'int8' | 'int4';
  /** How the cache stores keys and values (default float16; see CachePrecision). */
  cachePrecision?: CachePrecision;
  /** Prompt tokens per prefill step (default 256); cancellation is checked between chunks. */
  prefillChunk?: number;
  compression?: Partial<CompressionSettings>;
  /** Memory-budget mode: pick compression per request so the cache fits this many MB. */
  memoryBudgetMb?: number;
}

export interface ModelInfo {
  modelDir: string;
  architecture: string;
  layers: number;
  queryHeads: number;
  kvHeads: number;
  headDim: number;
  hiddenSize: number;
  vocabSize: number;
  contextLength: number;
  /** How most weights are stored: a float dtype, or a ggml block format (GGUF files). */
  dtype: 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q5_K' | 'Q6_K';
  /** Weight quantization in use, if any. */
  quantize?: 'int8' | 'int4';
  /** How the cache stores keys and values. */
  cachePrecision: CachePrecision;
  parameters: number;
  hasChatTemplate: boolean;
}

export interface LoadResult {
  model: ModelInfo;
  /** The execution provider actually in use. */
  device: Device;
  /** Set when the requested device could not start and the runtime fell back to CPU. */
  fallback?: string;
  think: ThinkSettings;
  loadMs: number;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Exactly one of text (raw, BOS added as the tokenizer says), messages (chat template) or ids (verbatim). */
export type Prompt = { text: string } | { messages: ChatMessage[] } | { ids: number[] };

export interface SamplingParams {
  /** 0 = greedy (default). */
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed?: number;
}

/**
 * 'reset': start from an empty cache, which gets a new handle (GenerateResult.cacheId).
 * `{ extend: cacheId }`: a follow-up, appended to the cache that handle names: the pruned prefix is
 * reused as it is, with the channels chosen by the first question. A handle the runtime no longer
 * holds (another request replaced the cache, a Stop while the prompt was read, a restart or a
 * reload) is refused with RpcErrors.StaleCache, never taken as a reset: the caller sends the whole
 * prompt again.
 */
export type CacheRequest = 'reset' | { extend: string };

export interface GenerateParams {
  /** Chosen by the caller; names the request in notifications and in `cancel`. */
  requestId: string;
  prompt: Prompt;
  maxNewTokens?: number;
  sampling?: SamplingParams;
  stop?: string[];
  /** Which cache the prompt is read into (default 'reset'); see CacheRequest. */
  cache?: CacheRequest;
  /** Per-request ThinK override (else the load-time settings). */
  think?: Partial<ThinkSettings>;
  compression?: Partial<CompressionSettings>;
  /** Per-request memory budget (else the load-time one). */
  memoryBudgetMb?: number;
}

/** What memory-budget mode chose for a request. */
export interface BudgetChoice {
  budgetMb: number;
  think: ThinkSettings;
  compression: CompressionSettings;
  /** Projected cache bytes for the prompt plus the requested new tokens. */
  projectedBytes: number;
  tokensPerMb: number;
  /** Full-precision K/V the prefill holds until the prompt is compressed. */
  prefillTransientBytes: number;
}

export type FinishReason = 'eos' | 'length' | 'stop' | 'cancelled' | 'context';

export interface Timings {
  loadMs: number;
  prefillMs: number;
  prefillTokensPerSec: number;
  decodeMsPerToken: number;
}

export interface CacheStats {
  /** Tokens in the cache (pruned + full-key). */
  tokens: number;
  prunedTokens: number;
  fullTokens: number;
  /** Bytes of keys actually stored: pruned tokens x kept + full tokens x head_dim, summed over layers and KV heads. */
  keyBytes: number;
  valueBytes: number;
  /** What the keys would take unpruned (tokens x head_dim for every layer and KV head). */
  fullKeyBytes: number;
  /** Mean fraction of key channels dropped over layers. */
  pruneRatio: number;
  /** Bytes per stored float element (2 for the float16 cache, 4 for float32). */
  bytesPerElement: number;
  /** Allocated capacity in bytes (preallocated buffers). */
  allocatedBytes: number;
  /** All cache bytes (keys, values, codes, scales, indices) / cached tokens. */
  bytesPerToken: number;
  /** What an unpruned float16 cache takes per token: layers x kvHeads x D x 2 x 2 (llama.cpp's default cache). */
  fp16FullBytesPerToken: number;
  /** Keys and values of one compressed (pruned or KIVI) token, mean over the compressed tiers; 0 while there are none. */
  compressedBytesPerToken: number;
  /** Prompt tokens evicted (per KV head; every head evicts as many). */
  evictedTokens: number;
  /** Compressed tokens held as KIVI codes. */
  quantizedTokens: number;
  /** On WebGPU: where the cache lives (absent when it is in host memory). */
  gpu?: GpuResidency;
}

/** On WebGPU the tiers that change only on prune/flush stay on the GPU; the rest is sent each step. */
export interface GpuResidency {
  /** Cache bytes held on the GPU between steps. */
  residentBytes: number;
  /**
   * Cache bytes sent from host memory in the last step. Without KIVI, in decode, bounded by ThinK's
   * recent + flush rather than the context; KIVI's codes and the prompt during prefill travel too,
   * and each prune or flush re-uploads the resident tiers (counted in uploadedBytes).
   */
  hostBytesLastStep: number;
  /** Times the resident tiers were uploaded (once per prune or flush), and the bytes moved in all. */
  uploads: number;
  uploadedBytes: number;
}

export interface GenerateResult {
  requestId: string;
  ids: number[];
  text: string;
  promptTokens: number;
  finishReason: FinishReason;
  cache: CacheStats;
  timings: Timings;
  /** Set in memory-budget mode. */
  budget?: BudgetChoice;
  /**
   * The handle of the cache this generation left, for the next request's `cache: { extend }`: new
   * for every fresh cache, the same when a follow-up extended it. Null when the cache holds nothing
   * reusable (a Stop while the prompt was read).
   */
  cacheId: string | null;
}

/** Per layer and KV head: what ThinK kept. */
export interface HeadMask {
  /** Kept channel indices, ascending. */
  kept: number[];
  /** Channel scores (length head_dim), the quantity ThinK ranks. */
  scores: number[];
  /** Value channels kept for compressed tokens, when value pruning is on. */
  valueKept?: number[];
  /** Prompt positions this head kept, when token eviction is on. */
  keptTokens?: number[];
}
export interface ThinkMasks {
  headDim: number;
  /** [layer][kvHead] */
  layers: HeadMask[][];
}

export type GenerationPhase = 'prefill' | 'decode' | 'done';

export interface ProgressNotification {
  requestId: string;
  phase: GenerationPhase;
  /** Prompt tokens processed so far / in all (prefill). */
  processed: number;
  total: number;
  /** Tokens per second of the current phase. */
  tokensPerSec: number;
  generated: number;
  cache: CacheStats;
}

export interface TokenNotification {
  requestId: string;
  /** Newly decoded text (never a broken UTF-8 sequence). */
  text: string;
  id: number;
}

export interface MasksNotification {
  requestId: string;
  masks: ThinkMasks;
}

export interface CountTokensParams {
  texts: string[];
}
export interface CountTokensResult {
  counts: number[];
}

export interface RuntimeStats {
  loaded: boolean;
  model?: ModelInfo;
  device?: Device;
  think?: ThinkSettings;
  busy: boolean;
  cache?: CacheStats;
  masks?: ThinkMasks;
  rssBytes: number;
}

/** JSON-RPC error codes the runtime uses (besides the standard ones). */
export const RpcErrors = {
  NotLoaded: -32001,
  ModelInvalid: -32002,
  Busy: -32003,
  ContextOverflow: -32004,
  /** `cache: { extend }` named a handle that is not the runtime's cache (data: StaleCacheData). */
  StaleCache: -32005,
  Cancelled: -32800, // LSP's RequestCancelled
} as const;

/** The data of a StaleCache error: the handle asked for (null: none) and the one held (null: none reusable). */
export interface StaleCacheData {
  asked: string | null;
  held: string | null;
}

/** Method names: requests (with result) and notifications. */
export const Rpc = {
  load: 'load',
  unload: 'unload',
  generate: 'generate',
  cancel: 'cancel',
  stats: 'stats',
  countTokens: 'countTokens',
  // runtime -> host notifications
  token: 'token',
  progress: 'progress',
  masks: 'masks',
  log: 'log',
} as const;

export interface RpcRequests {
  load: [LoadParams, LoadResult];
  unload: [void, void];
  generate: [GenerateParams, GenerateResult];
  cancel: [{ requestId: string }, { cancelled: boolean }];
  stats: [void, RuntimeStats];
  countTokens: [CountTokensParams, CountTokensResult];
}

export interface RpcNotifications {
  token: TokenNotification;
  progress: ProgressNotification;
  masks: MasksNotification;
  log: { level: 'info' | 'warn' | 'error'; message: string };
}
