// The inference engine: one session over the whole-model graph, the KV cache, ThinK pruning after
// prefill, flush of generated keys, sampling and streaming. It runs on a worker thread (see
// engineHost.ts); everything here is synchronous between awaits of session.run.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import type { BudgetChoice, ChatMessage, FinishReason, GenerateParams, GenerateResult, LoadParams, LoadResult, MasksNotification, ProgressNotification, RuntimeStats, ThinkMasks, TokenNotification, CacheStats } from '../../core/protocol/rpc';
import { DEFAULT_COMPRESSION, DEFAULT_THINK, type CompressionSettings, type ThinkSettings, type Device } from '../../core/protocol/settings';
import { checkCompression, compressAfterPrefill, needsCompressedLayout, needsWindowMass } from '../cache/compress';
import type { ModelConfig } from '../model/config';
import { StreamDecoder } from '../text/detokenizer';
import { ContextOverflowError, ModelError } from '../model/errors';
import { DEFAULT_EVICT } from '../cache/evict';
import { buildModelGraph } from '../graph/model';
import type { QuantizedWeight } from '../model/quantize';
import { buildScorerGraph, scorerInput, scorerOutput } from '../graph/scorer';
import { chooseByBudget } from '../cache/memoryBudget';
import { KvCache, type CacheLayout } from '../cache/kvcache';
import { ResidentTiers } from './residentTiers';
import { Runner } from './runner';
import { Sampler } from './sampler';
import { firstLine, openSession, type LogFn } from './session';
import { StopMatcher } from '../text/stopStrings';
import { checkThinkSettings } from '../cache/think';
import { outputColumnEnergy } from '../cache/valuePrune';
import { Tokenizer } from '../text/tokenizer';
import { openModel, type ModelWeights } from '../model/weights';

export type { LogFn } from './session';

export interface EngineHooks {
  onToken(n: TokenNotification): void;
  onProgress(p: ProgressNotification): void;
  onMasks(m: MasksNotification): void;
  isCancelled(): boolean;
}

export const DEFAULT_PREFILL_CHUNK = 256;
const DEFAULT_MAX_NEW_TOKENS = 256;

/** What a follow-up ('extend') needs to know about the conversation already in the cache. */
interface Conversation {
  messages: ChatMessage[];
  /** The rendered prompt plus the answer text: what the cache holds, as text. */
  rendered: string;
}

/** Settings for one prompt's cache: ThinK and what composes with it. */
interface CacheSettings {
  think: ThinkSettings;
  compression: CompressionSettings;
}

export class Engine {
  private cache: KvCache | null = null;
  /** Per layer [Hkv * D]: ThinK's query statistic, accumulated over prefill chunks. */
  private querySquares: Float64Array[] = [];
  /** Per layer [w, Hq, D]: the eviction/value window's queries, and how many rows are filled. */
  private windowQueries: Float32Array[] = [];
  private windowFilled = 0;
  private conversation: Conversation | null = null;
  private settings: CacheSettings;
  private scorer: InferenceSession | null = null;
  private outputEnergy: Float64Array[][] | null = null;
  /** Logits after the last forward (tests compare them to references). */
  lastLogits: Float32Array | null = null;

  private constructor(
    readonly loaded: LoadResult,
    private readonly weights: ModelWeights,
    private readonly config: ModelConfig,
    private readonly tokenizer: Tokenizer | null,
    private runner: Runner,
    private readonly prefillChunk: number,
    private readonly params: LoadParams,
    private readonly log: LogFn,
  ) {
    this.settings = { think: loaded.think, compression: resolveCompression(params.compression) };
  }

  static async load(params: LoadParams, log: LogFn): Promise<Engine> {
    const t0 = performance.now();
    const weights = openModel(params.modelDir);
    const config: ModelConfig = { ...weights.config, contextLength: params.contextLength ?? weights.config.contextLength };
    const think: ThinkSettings = { ...DEFAULT_THINK, ...params.think };
    checkThinkSettings(think, config.layers);
    const compression = resolveCompression(params.compression);
    checkCompression(compression);
    const tokenizer = existsSync(join(params.modelDir, 'tokenizer.json')) ? await Tokenizer.load(params.modelDir) : null;
    if (!tokenizer) log('warn', `${join(params.modelDir, 'tokenizer.json')}: missing; only token-id prompts will work`);
    const opened = await openRunner(weights, config, params, compression, params.device ?? 'cpu', log);
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
        parameters: weights.parameters,
        hasChatTemplate: tokenizer?.hasChatTemplate ?? false,
      },
      device: opened.device,
      fallback: opened.fallback,
      think,
      loadMs: performance.now() - t0,
    };
    const chunk = params.prefillChunk ?? DEFAULT_PREFILL_CHUNK;
    log('info', `loaded ${config.architecture} (${config.layers} layers, ${weights.dtype}) on ${opened.device} in ${loaded.loadMs.toFixed(0)} ms`);
    return new Engine(loaded, weights, config, tokenizer, opened.runner, chunk, params, log);
  }

  countTokens(texts: string[]): number[] {
    const tok = this.requireTokenizer();
    return texts.map((t) => tok.encode(t, { addBos: false }).length);
  }

  snapshot(): Pick<RuntimeStats, 'model' | 'device' | 'think' | 'cache' | 'masks'> {
    return {
      model: this.loaded.model,
      device: this.loaded.device,
      think: this.settings.think,
      cache: this.cache ? this.cacheStats(this.cache) : undefined,
      masks: this.masks() ?? undefined,
    };
  }

  async dispose(): Promise<void> {
    this.cache = null;
    await this.runner.session.release();
    await this.runner.resident?.dispose();
    await this.scorer?.release();
  }

  /** The cache's figures; on WebGPU with what it keeps on the GPU and what still travels per step. */
  private cacheStats(cache: KvCache): CacheStats {
    const gpu = this.runner.resident?.stats;
    return gpu ? { ...cache.stats(), gpu: { ...gpu } } : cache.stats();
  }

  async generate(p: GenerateParams, hooks: EngineHooks): Promise<GenerateResult> {
    const { ids: promptIds, messages, extend } = this.encodePrompt(p, p.cache === 'extend' && this.cache !== null);
    const maxNew = p.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
    const ctx = this.config.contextLength;
    const past = extend ? this.cache!.position : 0;
    this.checkPrompt(promptIds, past);
    const budget = Math.min(maxNew, ctx - past - promptIds.length);
    let budgetChoice: BudgetChoice | undefined;
    if (!extend) {
      let settings = this.requestSettings(p);
      const budgetMb = p.memoryBudgetMb ?? this.params.memoryBudgetMb;
      if (budgetMb !== undefined) {
        const choice = chooseByBudget(budgetMb, promptIds.length, budget, settings, this.loaded.model);
        settings = { think: choice.think, compression: choice.compression };
        budgetChoice = choice;
      }
      await this.resetCache(settings, promptIds.length + budget);
      this.conversation = null;
    }
    const cache = this.cache!;
    const { think } = this.settings;
    const progress = (phase: ProgressNotification['phase'], processed: number, tokensPerSec: number, generated: number) =>
      hooks.onProgress({ requestId: p.requestId, phase, processed, total: promptIds.length, tokensPerSec, generated, cache: this.cacheStats(cache) });

    // Prefill, chunk by chunk; the observation window is the prompt's last w positions.
    const tPrefill = performance.now();
    let logits: Float32Array | null = null;
    for (let at = 0; at < promptIds.length; at += this.prefillChunk) {
      if (hooks.isCancelled()) return this.cancelledPrefill(p, promptIds.length, tPrefill);
      const chunk = promptIds.slice(at, at + this.prefillChunk);
      logits = await this.forward(chunk, extend ? null : promptIds.length);
      progress('prefill', at + chunk.length, ((at + chunk.length) * 1000) / (performance.now() - tPrefill), 0);
    }
    const prefillMs = performance.now() - tPrefill;
    if (!extend) {
      await this.compress(think.flush > 0 ? budget : 0);
      const masks = this.masks();
      if (masks) hooks.onMasks({ requestId: p.requestId, masks });
    }

    // Decode: sample, stream, feed the token back (so the cache always holds the whole answer).
    const sampler = new Sampler(p.sampling ?? {});
    // Generated text continues the prompt: keep the first token's leading space.
    const decoder = this.tokenizer ? new StreamDecoder(this.tokenizer, { continuation: true, skipSpecial: true }) : null;
    const stops = new StopMatcher(p.stop ?? []);
    const history = [...promptIds];
    const ids: number[] = [];
    let text = '';
    let finish: FinishReason = 'length';
    const tDecode = performance.now();
    let forwards = 0;
    const emit = (piece: string, id: number) => {
      if (!piece) return;
      text += piece;
      hooks.onToken({ requestId: p.requestId, text: piece, id });
    };
    while (ids.length < budget) {
      if (hooks.isCancelled()) {
        finish = 'cancelled';
        break;
      }
      const id = sampler.sample(logits!, history);
      ids.push(id);
      history.push(id);
      const isEos = this.isEos(id);
      if (!isEos && decoder) {
        const { emit: out, stopped } = stops.push(decoder.push(id));
        emit(out, id);
        if (stopped) finish = 'stop';
      }
      if (isEos) finish = 'eos';
      logits = await this.forward([id], null);
      forwards++;
      progress('decode', promptIds.length, (forwards * 1000) / (performance.now() - tDecode), ids.length);
      if (finish !== 'length') break;
      if (cache.position >= this.config.contextLength) {
        finish = 'context';
        break;
      }
    }
    if (decoder && finish !== 'stop') emit(stops.push(decoder.flush()).emit + stops.flush(), -1);
    const decodeMs = performance.now() - tDecode;
    if (messages) {
      const tok = this.requireTokenizer();
      // The cache holds the end-of-turn token too when the answer ended with it.
      const end = finish === 'eos' ? tok.decode([ids[ids.length - 1]]) : '';
      this.conversation = { messages: [...messages, { role: 'assistant', content: text }], rendered: tok.renderChat(messages, true) + text + end };
    }
    progress('done', promptIds.length, 0, ids.length);
    return {
      requestId: p.requestId,
      ids,
      text,
      promptTokens: promptIds.length,
      finishReason: finish,
      cache: this.cacheStats(cache),
      budget: budgetChoice,
      timings: {
        loadMs: this.loaded.loadMs,
        prefillMs,
        prefillTokensPerSec: (promptIds.length * 1000) / prefillMs,
        decodeMsPerToken: forwards ? decodeMs / forwards : 0,
      },
    };
  }

  /**
   * Teacher forcing (fidelity reports): the prompt is read and compressed as a generation would,
   * then the continuation is fed in chunks. logits[i] is the distribution that predicts continuation[i].
   */
  async teacherForce(p: {
    promptIds: number[];
    continuation: number[];
    think?: Partial<ThinkSettings>;
    compression?: Partial<CompressionSettings>;
    chunk?: number;
  }): Promise<{ logits: Float32Array[]; cache: CacheStats }> {
    this.checkPrompt([...p.promptIds, ...p.continuation], 0);
    const V = this.config.vocabSize;
    await this.resetCache(this.requestSettings({ think: p.think, compression: p.compression }), p.promptIds.length + p.continuation.length);
    this.conversation = null;
    let last: Float32Array | null = null;
    for (let at = 0; at < p.promptIds.length; at += this.prefillChunk)
      last = await this.forward(p.promptIds.slice(at, at + this.prefillChunk), p.promptIds.length);
    await this.compress(this.settings.think.flush > 0 ? p.continuation.length : 0);
    const logits = [last!.slice(0, V)];
    const chunk = p.chunk ?? 64;
    const feed = p.continuation.slice(0, -1);
    for (let at = 0; at < feed.length; at += chunk) {
      const ids = feed.slice(at, at + chunk);
      const out = await this.forward(ids, null, ids.map((_, i) => i));
      for (let r = 0; r < ids.length; r++) logits.push(out.slice(r * V, (r + 1) * V));
    }
    return { logits, cache: this.cacheStats(this.cache!) };
  }

  /**
   * One pass of the graph over `ids`. `promptLength` is set while the prompt of a fresh cache is
   * read: its last window rows feed ThinK's query squares and the eviction/value window. Then
   * generated keys get flushed to compact storage when due.
   */
  private async forward(ids: number[], promptLength: number | null, logitRows?: number[]): Promise<Float32Array> {
    const { think, compression } = this.settings;
    const win = compression.evict?.window ?? DEFAULT_EVICT.window;
    let windowRows = 0;
    this.lastLogits = await this.runner.step(this.cache!, ids, {
      windowFrom: promptLength === null ? Infinity : promptLength - Math.min(think.window, promptLength),
      querySquares: this.querySquares,
      logitRows,
      scoreWindowFrom: promptLength === null || !needsWindowMass(compression) ? Infinity : promptLength - Math.min(win, promptLength),
      onWindowQueries: (l, rows, count) => {
        this.windowQueries[l].set(rows, this.windowFilled * this.config.queryHeads * this.config.headDim);
        windowRows = count;
      },
    });
    this.windowFilled += windowRows;
    this.flushIfDue();
    await this.runner.resident?.sync(this.cache!);
    return this.lastLogits;
  }

  /** Beyond the paper: generated keys get thinner too, pruned with their head's mask. */
  private flushIfDue(): void {
    const cache = this.cache!;
    const { flush, recent } = this.settings.think;
    if (cache.masked && flush > 0 && cache.full > flush) cache.prune(cache.full - recent);
  }

  /** A fresh cache (and, if the layout changes, the matching graph) for one prompt. */
  private async resetCache(settings: CacheSettings, capacity: number): Promise<void> {
    const { layers, kvHeads, headDim: D, queryHeads: Hq } = this.config;
    let layout = layoutFor(settings.compression, this.loaded.device);
    if (!this.runner.fits(layout)) {
      const kind = layout.compressed ? `compressed${layout.bits ? ' (KIVI)' : ''}` : 'plain ThinK';
      this.log('info', `rebuilding the graph for the ${kind} cache layout`);
      this.cache = null;
      await this.runner.session.release();
      await this.runner.resident?.dispose();
      const opened = await openRunner(this.weights, this.config, this.params, settings.compression, this.loaded.device, this.log);
      this.runner = opened.runner;
      // A provider that could not start again leaves the CPU in its place: say so from now on.
      Object.assign(this.loaded, { device: opened.device, fallback: opened.fallback ?? this.loaded.fallback });
      layout = layoutFor(settings.compression, this.loaded.device);
    }
    if (this.runner.resident && layout.bits !== null)
      this.log('info', 'WebGPU: KIVI codes are unpacked on the CPU each step (onnxruntime has no WebGPU kernel for it); ThinK alone keeps the cache on the GPU');
    this.settings = settings;
    this.cache = new KvCache(layers, kvHeads, D, capacity, layout);
    this.querySquares = Array.from({ length: layers }, () => new Float64Array(kvHeads * D));
    const win = settings.compression.evict?.window ?? DEFAULT_EVICT.window;
    this.windowQueries = needsWindowMass(settings.compression) ? Array.from({ length: layers }, () => new Float32Array(win * Hq * D)) : [];
    this.windowFilled = 0;
  }

  /** After the prompt: eviction, value masks, ThinK, KIVI (docs/compression.md). */
  private async compress(spare: number): Promise<void> {
    const { compression } = this.settings;
    const mass = needsWindowMass(compression) ? await this.windowMass() : null;
    if (compression.pruneValues > 0 && !this.outputEnergy) {
      const { queryHeads, kvHeads, headDim } = this.config;
      this.outputEnergy = this.weights.layers.map((L) => outputColumnEnergy(L.o, queryHeads, kvHeads, headDim));
    }
    compressAfterPrefill({ cache: this.cache!, querySquares: this.querySquares, mass, outputEnergy: this.outputEnergy, ...this.settings, config: this.config, spare });
    await this.runner.resident?.sync(this.cache!);
  }

  /** [layer][kvHead][n]: the eviction window's attention mass on every cached (all full) token. */
  private async windowMass(): Promise<Float32Array[][]> {
    const cache = this.cache!;
    const { layers, kvHeads, headDim: D, queryHeads: Hq } = this.config;
    const n = cache.full;
    const w = this.windowFilled;
    if (!this.scorer) this.scorer = (await openSession({ bytes: buildScorerGraph(this.config), externalData: [] }, this.weights.dir, 'cpu', this.log)).session;
    const mask = new Float32Array(w * n);
    for (let r = 0; r < w; r++) for (let u = n - w + r + 1; u < n; u++) mask[r * n + u] = -Infinity;
    const feeds: Record<string, Tensor> = { mask: new Tensor('float32', mask, [w, n]) };
    for (let l = 0; l < layers; l++) {
      const rows = this.windowQueries[l]; // [w, Hq, D] -> [Hq, w, D]
      const qw = new Float32Array(Hq * w * D);
      for (let r = 0; r < w; r++) for (let i = 0; i < Hq; i++) qw.set(rows.subarray((r * Hq + i) * D, (r * Hq + i + 1) * D), (i * w + r) * D);
      feeds[scorerInput.windowQueries(l)] = new Tensor('float32', qw, [Hq, w, D]);
      for (let g = 0; g < kvHeads; g++) feeds[scorerInput.keys(l, g)] = new Tensor('float32', cache.keysOf(l, g).subarray(0, n * D), [n, D]);
    }
    const out = await this.scorer.run(feeds);
    return Array.from({ length: layers }, (_, l) => Array.from({ length: kvHeads }, (_, g) => out[scorerOutput(l, g)].data as Float32Array));
  }

  /** ThinK and compression for a request: load-time settings, overridden per request. */
  private requestSettings(p: { think?: Partial<ThinkSettings>; compression?: Partial<CompressionSettings> }): CacheSettings {
    const think = { ...this.loaded.think, ...p.think };
    checkThinkSettings(think, this.config.layers);
    const compression = resolveCompression({ ...this.params.compression, ...p.compression });
    checkCompression(compression);
    return { think, compression };
  }

  private checkPrompt(ids: number[], past: number): void {
    const ctx = this.config.contextLength;
    if (ids.length === 0) throw new Error('the prompt is empty');
    if (past + ids.length >= ctx) throw new ContextOverflowError(past + ids.length, ctx);
    for (const id of ids)
      if (!(Number.isInteger(id) && id >= 0 && id < this.config.vocabSize))
        throw new Error(`prompt token id ${id} is outside the vocabulary (0..${this.config.vocabSize - 1})`);
  }

  private masks(): ThinkMasks | null {
    if (!this.cache || (!this.cache.masked && this.cache.evicted === 0)) return null;
    return {
      headDim: this.config.headDim,
      layers: this.cache.heads.map((layer) =>
        layer.map((h) => ({
          kept: h.keptChannels(),
          scores: Array.from(h.scores ?? []),
          ...(h.valueKept < this.config.headDim ? { valueKept: Array.from(h.valueIndex) } : {}),
          ...(h.keptTokens ? { keptTokens: Array.from(h.keptTokens) } : {}),
        })),
      ),
    };
  }

  /** A generation cancelled while its prompt was read (a cancel during decode returns normally). */
  private cancelledPrefill(p: GenerateParams, promptTokens: number, t0: number): GenerateResult {
    // A half-read prompt leaves a cache that matches no conversation: a follow-up must start over.
    this.cache = null;
    this.conversation = null;
    const prefillMs = performance.now() - t0;
    return {
      requestId: p.requestId,
      ids: [],
      text: '',
      promptTokens,
      finishReason: 'cancelled',
      cache: new KvCache(this.config.layers, this.config.kvHeads, this.config.headDim, 0).stats(),
      timings: { loadMs: this.loaded.loadMs, prefillMs, prefillTokensPerSec: 0, decodeMsPerToken: 0 },
    };
  }

  /**
   * The prompt's token ids; for chat prompts also the whole conversation so far (what the cache
   * will hold before the answer). A follow-up (`extend`) feeds only what the cache lacks; when the
   * chat template is not prefix-stable for this conversation, the whole conversation is re-read.
   */
  private encodePrompt(p: GenerateParams, extend: boolean): { ids: number[]; messages: ChatMessage[] | null; extend: boolean } {
    const prompt = p.prompt;
    if ('ids' in prompt) return { ids: prompt.ids, messages: null, extend };
    const tok = this.requireTokenizer();
    if ('text' in prompt) return { ids: tok.encode(prompt.text, { addBos: !extend && tok.addBos }), messages: null, extend };
    if (!extend || !this.conversation) return { ids: tok.encodeChat(prompt.messages), messages: prompt.messages, extend: false };
    const { messages: history, rendered } = this.conversation;
    const answer = history[history.length - 1].content;
    // Templates that write "Assistant: {content}" want the answer without the leading space it streamed with.
    for (const content of [answer, answer.trimStart()]) {
      const messages = [...history.slice(0, -1), { role: 'assistant' as const, content }, ...prompt.messages];
      const full = tok.renderChat(messages, true);
      if (full.startsWith(rendered)) return { ids: tok.encode(full.slice(rendered.length), { addBos: false }), messages, extend: true };
    }
    this.log('info', "the chat template renders earlier turns differently once a turn follows; re-reading the conversation");
    const messages = [...history, ...prompt.messages];
    return { ids: tok.encodeChat(messages), messages, extend: false };
  }

  private requireTokenizer(): Tokenizer {
    if (!this.tokenizer) throw new ModelError(join(this.weights.dir, 'tokenizer.json'), 'missing; it is needed to encode text prompts');
    return this.tokenizer;
  }

  private isEos(id: number): boolean {
    return this.tokenizer ? this.tokenizer.eosIds.has(id) : this.config.eosTokenIds.includes(id);
  }
}

/** Full compression settings from a partial one (eviction gets its default window and kernel). */
function resolveCompression(c: Partial<CompressionSettings> | undefined): CompressionSettings {
  const r = { ...DEFAULT_COMPRESSION, ...c };
  return { ...r, evict: r.evict ? { ...DEFAULT_EVICT, ...r.evict } : null };
}

/**
 * The model's session on `device` and its runner. On WebGPU the cache's pruned tiers stay on the
 * GPU between steps (residentTiers.ts), which takes the compressed cache layout; if WebGPU cannot
 * start, the CPU gets its own graph and layout.
 */
async function openRunner(weights: ModelWeights, config: ModelConfig, params: LoadParams, compression: CompressionSettings, device: Device, log: LogFn) {
  const weightBits = params.quantize === 'int4' ? 4 : params.quantize === 'int8' ? 8 : undefined;
  const quantizedCache = new Map<string, QuantizedWeight>();
  const graphFor = (d: Device) => {
    const layout = layoutFor(compression, d);
    return buildModelGraph(weights, { weightBits, compressed: layout.compressed, kivi: layout.bits !== null, gpu: d === 'webgpu', quantizedCache });
  };
  const opened = await openSession(graphFor, params.modelDir, device, log);
  if (opened.device !== 'webgpu') return { ...opened, runner: new Runner(opened.session, config, layoutFor(compression, opened.device)) };
  try {
    const resident = await ResidentTiers.open(config);
    return { ...opened, runner: new Runner(opened.session, config, layoutFor(compression, 'webgpu'), resident) };
  } catch (e) {
    // The model session started but the upload graph did not: run on the CPU rather than half on the GPU.
    await opened.session.release();
    const fallback = `webgpu could not keep the cache on the GPU (${firstLine(e)}); running on CPU`;
    log('warn', fallback);
    const cpu = await openSession(graphFor, params.modelDir, 'cpu', log);
    return { ...cpu, fallback, runner: new Runner(cpu.session, config, layoutFor(compression, 'cpu')) };
  }
}

/**
 * The cache layout for these settings on `device`. WebGPU always takes the compressed one: the
 * plain layout's one values buffer grows every step, so it could not stay on the GPU.
 */
function layoutFor(compression: CompressionSettings, device: Device): CacheLayout {
  return { compressed: needsCompressedLayout(compression) || device === 'webgpu', bits: compression.kvBits };
}
