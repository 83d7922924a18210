// The inference engine: one session over the whole-model graph, the KV cache, ThinK pruning after
// prefill, flush of generated keys, sampling and streaming. It runs on a worker thread (see
// engineHost.ts); everything here is synchronous between awaits of session.run.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_THINK,
  type ChatMessage,
  type FinishReason,
  type GenerateParams,
  type GenerateResult,
  type LoadParams,
  type LoadResult,
  type MasksNotification,
  type ProgressNotification,
  type RuntimeStats,
  type ThinkMasks,
  type ThinkSettings,
  type TokenNotification,
} from '../src/protocol';
import type { ModelConfig } from './config';
import { StreamDecoder } from './detokenizer';
import { ContextOverflowError, ModelError } from './errors';
import { buildModelGraph } from './graph/model';
import { KvCache } from './kvcache';
import { Runner } from './runner';
import { Sampler } from './sampler';
import { openSession, type LogFn } from './session';
import { StopMatcher } from './stopStrings';
import { checkThinkSettings, pruneAfterPrefill } from './think';
import { Tokenizer } from './tokenizer';
import { openModel, type ModelWeights } from './weights';

export type { LogFn } from './session';

export interface EngineHooks {
  onToken(n: TokenNotification): void;
  onProgress(p: ProgressNotification): void;
  onMasks(m: MasksNotification): void;
  isCancelled(): boolean;
}

export const DEFAULT_PREFILL_CHUNK = 256;
export const DEFAULT_MAX_NEW_TOKENS = 256;

/** What a follow-up ('extend') needs to know about the conversation already in the cache. */
interface Conversation {
  messages: ChatMessage[];
  /** The rendered prompt plus the answer text: what the cache holds, as text. */
  rendered: string;
}

export class Engine {
  private cache: KvCache | null = null;
  /** Per layer [Hkv * D]: ThinK's query statistic, accumulated over prefill chunks. */
  private querySquares: Float64Array[] = [];
  private conversation: Conversation | null = null;
  private think: ThinkSettings;
  /** Logits after the last forward (tests compare them to references). */
  lastLogits: Float32Array | null = null;

  private constructor(
    readonly loaded: LoadResult,
    private readonly weights: ModelWeights,
    private readonly config: ModelConfig,
    private readonly tokenizer: Tokenizer | null,
    private readonly runner: Runner,
    private readonly prefillChunk: number,
  ) {
    this.think = loaded.think;
  }

  static async load(params: LoadParams, log: LogFn): Promise<Engine> {
    const t0 = performance.now();
    const weights = openModel(params.modelDir);
    const config: ModelConfig = { ...weights.config, contextLength: params.contextLength ?? weights.config.contextLength };
    const think: ThinkSettings = { ...DEFAULT_THINK, ...params.think };
    checkThinkSettings(think, config.layers);
    const tokenizer = existsSync(join(params.modelDir, 'tokenizer.json')) ? await Tokenizer.load(params.modelDir) : null;
    if (!tokenizer) log('warn', `${join(params.modelDir, 'tokenizer.json')}: missing; only token-id prompts will work`);
    const graph = buildModelGraph(weights, { weightBits: params.quantize === 'int4' ? 4 : params.quantize === 'int8' ? 8 : undefined });
    const opened = await openSession(graph, params.modelDir, params.device ?? 'cpu', log);
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
    return new Engine(loaded, weights, config, tokenizer, new Runner(opened.session, config), chunk);
  }

  countTokens(texts: string[]): number[] {
    const tok = this.requireTokenizer();
    return texts.map((t) => tok.encode(t, { addBos: false }).length);
  }

  snapshot(): Pick<RuntimeStats, 'model' | 'device' | 'think' | 'cache' | 'masks'> {
    return {
      model: this.loaded.model,
      device: this.loaded.device,
      think: this.think,
      cache: this.cache?.stats(),
      masks: this.masks() ?? undefined,
    };
  }

  async dispose(): Promise<void> {
    this.cache = null;
    await this.runner.session.release();
  }

  async generate(p: GenerateParams, hooks: EngineHooks): Promise<GenerateResult> {
    const extend = p.cache === 'extend' && this.cache !== null;
    if (!extend) {
      this.think = { ...this.loaded.think, ...p.think };
      checkThinkSettings(this.think, this.config.layers);
    }
    const { ids: promptIds, messages } = this.encodePrompt(p, extend);
    const maxNew = p.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
    const ctx = this.config.contextLength;
    const past = extend ? this.cache!.tokens : 0;
    if (promptIds.length === 0) throw new Error('the prompt is empty');
    if (past + promptIds.length >= ctx) throw new ContextOverflowError(past + promptIds.length, ctx);
    for (const id of promptIds)
      if (!(Number.isInteger(id) && id >= 0 && id < this.config.vocabSize))
        throw new Error(`prompt token id ${id} is outside the vocabulary (0..${this.config.vocabSize - 1})`);
    const budget = Math.min(maxNew, ctx - past - promptIds.length);

    if (!extend) {
      this.cache = new KvCache(this.config.layers, this.config.kvHeads, this.config.headDim, promptIds.length + budget);
      this.querySquares = Array.from({ length: this.config.layers }, () => new Float64Array(this.config.kvHeads * this.config.headDim));
      this.conversation = null;
    }
    const cache = this.cache!;
    const progress = (phase: ProgressNotification['phase'], processed: number, tokensPerSec: number, generated: number) =>
      hooks.onProgress({ requestId: p.requestId, phase, processed, total: promptIds.length, tokensPerSec, generated, cache: cache.stats() });

    // Prefill, chunk by chunk; the observation window is the prompt's last w positions.
    const tPrefill = performance.now();
    const windowFrom = past + promptIds.length - Math.min(this.think.window, promptIds.length);
    let logits: Float32Array | null = null;
    for (let at = 0; at < promptIds.length; at += this.prefillChunk) {
      if (hooks.isCancelled()) return this.cancelled(p, promptIds.length, [], tPrefill, 0);
      const chunk = promptIds.slice(at, at + this.prefillChunk);
      logits = await this.forward(chunk, extend ? Infinity : windowFrom);
      progress('prefill', at + chunk.length, ((at + chunk.length) * 1000) / (performance.now() - tPrefill), 0);
    }
    const prefillMs = performance.now() - tPrefill;
    if (!extend) {
      pruneAfterPrefill(this.cache!, this.querySquares, this.think, this.config, this.think.flush > 0 ? budget : 0);
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
      logits = await this.forward([id], Infinity);
      forwards++;
      progress('decode', promptIds.length, (forwards * 1000) / (performance.now() - tDecode), ids.length);
      if (finish !== 'length') break;
      if (cache.tokens >= this.config.contextLength) {
        finish = 'context';
        break;
      }
    }
    if (decoder && finish !== 'stop') emit(stops.push(decoder.flush()).emit + stops.flush(), -1);
    const decodeMs = performance.now() - tDecode;
    if (messages) {
      const prior = extend && this.conversation ? this.conversation.messages : [];
      const all = [...prior, ...messages, { role: 'assistant' as const, content: text }];
      const tok = this.requireTokenizer();
      // The cache holds the end-of-turn token too when the answer ended with it.
      const end = finish === 'eos' ? tok.decode([ids[ids.length - 1]]) : '';
      this.conversation = { messages: all, rendered: tok.renderChat(all.slice(0, -1), true) + text + end };
    }
    progress('done', promptIds.length, 0, ids.length);
    return {
      requestId: p.requestId,
      ids,
      text,
      promptTokens: promptIds.length,
      finishReason: finish,
      cache: cache.stats(),
      timings: {
        loadMs: this.loaded.loadMs,
        prefillMs,
        prefillTokensPerSec: (promptIds.length * 1000) / prefillMs,
        decodeMsPerToken: forwards ? decodeMs / forwards : 0,
      },
    };
  }

  /** One pass of the graph; then generated keys get flushed to compact storage when due. */
  private async forward(ids: number[], windowFrom: number): Promise<Float32Array> {
    this.lastLogits = await this.runner.step(this.cache!, ids, { windowFrom, querySquares: this.querySquares });
    this.flushIfDue();
    return this.lastLogits;
  }

  /** Beyond the paper: generated keys get thinner too, pruned with their head's mask. */
  private flushIfDue(): void {
    const cache = this.cache!;
    const { flush, recent } = this.think;
    if (cache.masked && flush > 0 && cache.full > flush) cache.prune(cache.full - recent);
  }

  private masks(): ThinkMasks | null {
    if (!this.cache?.masked) return null;
    return {
      headDim: this.config.headDim,
      layers: this.cache.heads.map((layer) => layer.map((h) => ({ kept: h.keptChannels(), scores: Array.from(h.scores ?? []) }))),
    };
  }

  private cancelled(p: GenerateParams, promptTokens: number, ids: number[], t0: number, decodeMs: number): GenerateResult {
    // A half-read prompt leaves a cache that matches no conversation: a follow-up must start over.
    this.cache = null;
    this.conversation = null;
    const prefillMs = performance.now() - t0;
    return {
      requestId: p.requestId,
      ids,
      text: '',
      promptTokens,
      finishReason: 'cancelled',
      cache: new KvCache(this.config.layers, this.config.kvHeads, this.config.headDim, 0).stats(),
      timings: { loadMs: this.loaded.loadMs, prefillMs, prefillTokensPerSec: 0, decodeMsPerToken: decodeMs },
    };
  }

  private encodePrompt(p: GenerateParams, extend: boolean): { ids: number[]; messages: ChatMessage[] | null } {
    const prompt = p.prompt;
    if ('ids' in prompt) return { ids: prompt.ids, messages: null };
    const tok = this.requireTokenizer();
    if ('text' in prompt) return { ids: tok.encode(prompt.text, { addBos: !extend && tok.addBos }), messages: null };
    if (!extend || !this.conversation) return { ids: tok.encodeChat(prompt.messages), messages: prompt.messages };
    // A follow-up: render the whole conversation and feed only what the cache does not hold yet.
    const full = tok.renderChat([...this.conversation.messages, ...prompt.messages], true);
    if (!full.startsWith(this.conversation.rendered))
      throw new Error("this model's chat template is not prefix-stable; ask the follow-up with cache 'reset'");
    return { ids: tok.encode(full.slice(this.conversation.rendered.length), { addBos: false }), messages: prompt.messages };
  }

  private requireTokenizer(): Tokenizer {
    if (!this.tokenizer) throw new ModelError(join(this.weights.dir, 'tokenizer.json'), 'missing; it is needed to encode text prompts');
    return this.tokenizer;
  }

  private isEos(id: number): boolean {
    return this.tokenizer ? this.tokenizer.eosIds.has(id) : this.config.eosTokenIds.includes(id);
  }
}
