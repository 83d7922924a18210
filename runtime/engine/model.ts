// What a loaded model owns, independent of any conversation: weights, config, tokenizer, the
// session that runs the whole-model graph (rebuilt when a request needs another cache layout),
// the weight-free scorer graph, and the settings requests start from. One per Engine; the
// per-cache state lives in conversation.ts.
import { join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import type { CacheStats, LoadParams, LoadResult, Prompt } from '../../core/protocol/rpc';
import { DEFAULT_CACHE_PRECISION, DEFAULT_COMPRESSION, DEFAULT_THINK, type CompressionSettings, type Device, type ThinkSettings } from '../../core/protocol/settings';
import { checkCompression, needsCompressedLayout } from '../cache/compress';
import { DEFAULT_EVICT } from '../cache/evict';
import type { CacheLayout, KvCache } from '../cache/kvcache';
import { checkThinkSettings } from '../cache/think';
import { outputColumnEnergy } from '../cache/valuePrune';
import { buildModelGraph } from '../graph/model';
import { buildScorerGraph } from '../graph/scorer';
import { WeightFile } from '../graph/weightFile';
import type { ModelConfig } from '../model/config';
import { ContextOverflowError, ModelError } from '../model/errors';
import { openModelSource } from '../model/open';
import type { ModelWeights } from '../model/weights';
import { Tokenizer } from '../text/tokenizer';
import { ResidentTiers } from './residentTiers';
import { Runner } from './runner';
import { firstLine, openSession, type LogFn } from './session';

export const DEFAULT_PREFILL_CHUNK = 256;

/** Settings for one prompt's cache: ThinK and what composes with it. */
export interface CacheSettings {
  think: ThinkSettings;
  compression: CompressionSettings;
}

export class ModelResources {
  private scorer: InferenceSession | null = null;
  private outputEnergy: Float64Array[][] | null = null;

  private constructor(
    readonly loaded: LoadResult,
    readonly weights: ModelWeights,
    readonly config: ModelConfig,
    /** Null when the folder has no tokenizer.json: only token-id prompts work then. */
    readonly tokenizer: Tokenizer | null,
    private currentRunner: Runner,
    /** Initializers made at load (quantized weights), on disk for the model's lifetime; null when none are. */
    private readonly weightFile: WeightFile | null,
    /** Prompt tokens per forward while a prompt is read; cancellation is checked between chunks. */
    readonly prefillChunk: number,
    readonly params: LoadParams,
    readonly log: LogFn,
  ) {}

  static async load(params: LoadParams, log: LogFn): Promise<ModelResources> {
    const t0 = performance.now();
    const source = await openModelSource(params);
    const { weights, tokenizer } = source;
    // A quantized GGUF picks its own precision unless the load names one.
    params = { ...params, quantize: source.quantize };
    for (const note of source.notes) log(tokenizer ? 'info' : 'warn', note);
    const config: ModelConfig = { ...weights.config, contextLength: params.contextLength ?? weights.config.contextLength };
    const think: ThinkSettings = { ...DEFAULT_THINK, ...params.think };
    checkThinkSettings(think, config.layers);
    const compression = resolveCompression(params.compression);
    checkCompression(compression);
    // Quantized (and GGUF-decoded) weights stream to disk one stack at a time, so a load never
    // holds them all in memory.
    const weightFile = params.quantize || weights.inMemory ? WeightFile.create() : null;
    let opened: Awaited<ReturnType<typeof openRunner>>;
    try {
      opened = await openRunner(weights, config, params, compression, params.device ?? 'cpu', log, weightFile);
    } catch (e) {
      weightFile?.dispose();
      throw e;
    }
    const loaded: LoadResult = {
      model: {
        modelDir: params.modelDir,
        architecture: config.architecture,
        layers: config.layers,
        queryHeads: config.queryHeads,
        kvHeads: config.kvHeads,
        headDim: config.headDim,
        hiddenSize: config.hiddenSize,
        vocabSize: config.vocabSize,
        contextLength: config.contextLength,
        dtype: weights.dtype,
        quantize: params.quantize,
        cachePrecision: opened.runner.layout.precision,
        parameters: weights.parameters,
        hasChatTemplate: tokenizer?.hasChatTemplate ?? false,
      },
      device: opened.device,
      fallback: opened.fallback,
      think,
      loadMs: performance.now() - t0,
    };
    log('info', `loaded ${config.architecture} (${config.layers} layers, ${weights.dtype}) on ${opened.device} in ${loaded.loadMs.toFixed(0)} ms`);
    return new ModelResources(loaded, weights, config, tokenizer, opened.runner, weightFile, params.prefillChunk ?? DEFAULT_PREFILL_CHUNK, params, log);
  }

  get runner(): Runner {
    return this.currentRunner;
  }

  /** The load-time settings: what a request gets when it overrides nothing. */
  get defaultSettings(): CacheSettings {
    return { think: this.loaded.think, compression: resolveCompression(this.params.compression) };
  }

  /** ThinK and compression for a request: load-time settings, overridden per request. */
  requestSettings(p: { think?: Partial<ThinkSettings>; compression?: Partial<CompressionSettings> }): CacheSettings {
    const think = { ...this.loaded.think, ...p.think };
    checkThinkSettings(think, this.config.layers);
    const compression = resolveCompression({ ...this.params.compression, ...p.compression });
    checkCompression(compression);
    return { think, compression };
  }

  /**
   * The cache layout these settings need, with a graph that reads it: the graph is rebuilt when
   * the current one was built for another layout (a request that turns KIVI or eviction on).
   */
  async layoutFor(compression: CompressionSettings): Promise<CacheLayout> {
    let layout = layoutFor(compression, this.loaded.device, this.params);
    if (!this.runner.fits(layout)) {
      const kind = layout.compressed ? `compressed${layout.bits ? ' (KIVI)' : ''}` : 'plain ThinK';
      this.log('info', `rebuilding the graph for the ${kind} cache layout`);
      await this.releaseRunner();
      const opened = await openRunner(this.weights, this.config, this.params, compression, this.loaded.device, this.log, this.weightFile);
      this.currentRunner = opened.runner;
      // A provider that could not start again leaves the CPU in its place: say so from now on.
      Object.assign(this.loaded, { device: opened.device, fallback: opened.fallback ?? this.loaded.fallback });
      layout = layoutFor(compression, this.loaded.device, this.params);
      this.loaded.model.cachePrecision = layout.precision; // WebGPU's float32 cache, or the CPU's after a fallback
    }
    if (this.runner.resident && layout.bits !== null)
      this.log('info', 'WebGPU: KIVI codes are unpacked on the CPU each step (onnxruntime has no WebGPU kernel for it); ThinK alone keeps the cache on the GPU');
    return layout;
  }

  /** The scorer graph (eviction and value scores), opened on first use: most settings never need it. */
  async scorerSession(): Promise<InferenceSession> {
    this.scorer ??= (await openSession({ bytes: buildScorerGraph(this.config), externalFolder: null }, this.weights.dir, 'cpu', this.log)).session;
    return this.scorer;
  }

  /** Per layer and KV head: the output projection's column energy (value pruning), computed once. */
  valueEnergy(): Float64Array[][] {
    const { queryHeads, kvHeads, headDim } = this.config;
    this.outputEnergy ??= this.weights.layers.map((L) => outputColumnEnergy(L.o, queryHeads, kvHeads, headDim));
    return this.outputEnergy;
  }

  /** The cache's figures; on WebGPU with what it keeps on the GPU and what still travels per step. */
  cacheStats(cache: KvCache): CacheStats {
    const gpu = this.runner.resident?.stats;
    return gpu ? { ...cache.stats(), gpu: { ...gpu } } : cache.stats();
  }

  /** A prompt's token ids for a fresh cache (BOS as the tokenizer says; chat through its template). */
  encode(prompt: Prompt): number[] {
    if ('ids' in prompt) return prompt.ids;
    const tok = this.requireTokenizer();
    return 'text' in prompt ? tok.encode(prompt.text, { addBos: tok.addBos }) : tok.encodeChat(prompt.messages);
  }

  countTokens(texts: string[]): number[] {
    const tok = this.requireTokenizer();
    return texts.map((t) => tok.encode(t, { addBos: false }).length);
  }

  /** `ids` fit after `past` cached tokens and are all in the vocabulary; checked before any work. */
  checkPrompt(ids: number[], past: number): void {
    const ctx = this.config.contextLength;
    if (ids.length === 0) throw new Error('the prompt is empty');
    if (past + ids.length >= ctx) throw new ContextOverflowError(past + ids.length, ctx);
    for (const id of ids)
      if (!(Number.isInteger(id) && id >= 0 && id < this.config.vocabSize))
        throw new Error(`prompt token id ${id} is outside the vocabulary (0..${this.config.vocabSize - 1})`);
  }

  requireTokenizer(): Tokenizer {
    if (!this.tokenizer) throw new ModelError(join(this.weights.dir, 'tokenizer.json'), 'missing; it is needed to encode text prompts');
    return this.tokenizer;
  }

  isEos(id: number): boolean {
    return this.tokenizer ? this.tokenizer.eosIds.has(id) : this.config.eosTokenIds.includes(id);
  }

  async dispose(): Promise<void> {
    await this.releaseRunner();
    await this.scorer?.release();
    this.weightFile?.dispose();
  }

  private async releaseRunner(): Promise<void> {
    await this.runner.session.release();
    await this.runner.resident?.dispose();
  }
}

/** Full compression settings from a partial one (eviction gets its default window and kernel). */
export function resolveCompression(c: Partial<CompressionSettings> | undefined): CompressionSettings {
  const r = { ...DEFAULT_COMPRESSION, ...c };
  return { ...r, evict: r.evict ? { ...DEFAULT_EVICT, ...r.evict } : null };
}

/**
 * The model's session on `device` and its runner. On WebGPU the cache's pruned tiers stay on the
 * GPU between steps (residentTiers.ts), which takes the compressed cache layout; if WebGPU cannot
 * start, the CPU gets its own graph and layout.
 */
async function openRunner(weights: ModelWeights, config: ModelConfig, params: LoadParams, compression: CompressionSettings, device: Device, log: LogFn, weightFile: WeightFile | null) {
  const weightBits = params.quantize === 'int4' ? 4 : params.quantize === 'int8' ? 8 : undefined;
  const graphFor = (d: Device) => {
    const layout = layoutFor(compression, d, params);
    return buildModelGraph(weights, { weightBits, compressed: layout.compressed, kivi: layout.bits !== null, cachePrecision: layout.precision, gpu: d === 'webgpu', weightFile: weightFile ?? undefined });
  };
  const opened = await openSession(graphFor, params.modelDir, device, log);
  if (opened.device !== 'webgpu') return { ...opened, runner: new Runner(opened.session, config, layoutFor(compression, opened.device, params)) };
  try {
    const resident = await ResidentTiers.open(config, layoutFor(compression, 'webgpu', params));
    return { ...opened, runner: new Runner(opened.session, config, layoutFor(compression, 'webgpu', params), resident) };
  } catch (e) {
    // The model session started but the upload graph did not: run on the CPU rather than half on the GPU.
    await opened.session.release();
    const fallback = `webgpu could not keep the cache on the GPU (${firstLine(e)}); running on CPU`;
    log('warn', fallback);
    const cpu = await openSession(graphFor, params.modelDir, 'cpu', log);
    return { ...cpu, fallback, runner: new Runner(cpu.session, config, layoutFor(compression, 'cpu', params)) };
  }
}

/**
 * The cache layout for these settings on `device`. WebGPU keeps a float32 cache: widening float16
 * in its shaders needs the shader-f16 feature, which not every adapter has.
 */
function layoutFor(compression: CompressionSettings, device: Device, params: Pick<LoadParams, 'cachePrecision'>): CacheLayout {
  const precision = device === 'webgpu' ? 'float32' : (params.cachePrecision ?? DEFAULT_CACHE_PRECISION);
  return { compressed: needsCompressedLayout(compression), bits: compression.kvBits, precision };
}
