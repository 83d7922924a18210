// The inference engine: what a request runs through. A generation is one turn of a conversation:
// start it (a fresh cache, or the held one its handle names), prefill the prompt, compress a fresh
// prompt's cache, decode, record. The model's resources live in model.ts, the cache and what a
// turn leaves for the next in conversation.ts. It runs on a worker thread (see
// runtime/host/engineHost.ts); everything here is synchronous between awaits of session.run.
import type {
  BudgetChoice,
  CacheRequest,
  CacheStats,
  ChatMessage,
  FinishReason,
  GenerateParams,
  GenerateResult,
  LoadParams,
  LoadResult,
  MasksNotification,
  ProgressNotification,
  Prompt,
  RuntimeStats,
  TokenNotification,
} from '../../core/protocol/rpc';
import type { CompressionSettings, ThinkSettings } from '../../core/protocol/settings';
import { KvCache } from '../cache/kvcache';
import { chooseByBudget } from '../cache/memoryBudget';
import { StaleCacheError } from '../model/errors';
import { StreamDecoder } from '../text/detokenizer';
import { StopMatcher } from '../text/stopStrings';
import { Conversation } from './conversation';
import { ModelResources } from './model';
import { Sampler } from './sampler';
import type { LogFn } from './session';

export type { LogFn };
export { DEFAULT_PREFILL_CHUNK } from './model';

export interface EngineHooks {
  onToken(n: TokenNotification): void;
  onProgress(p: ProgressNotification): void;
  onMasks(m: MasksNotification): void;
  isCancelled(): boolean;
}

const DEFAULT_MAX_NEW_TOKENS = 256;

/** One generation: what it reads, into which conversation's cache, and how much it may add. */
interface Turn {
  p: GenerateParams;
  conv: Conversation;
  promptIds: number[];
  /** The chat the cache will hold before the answer; null for text and id prompts. */
  messages: ChatMessage[] | null;
  /** Appended to a held cache (already compressed), rather than read into a fresh one. */
  extend: boolean;
  /** New tokens it may generate: maxNewTokens, bounded by the context. */
  budget: number;
  budgetChoice?: BudgetChoice;
}

interface Answer {
  ids: number[];
  text: string;
  finish: FinishReason;
  ms: number;
  forwards: number;
}

export class Engine {
  /** The cache the runtime holds: the one a follow-up may extend, by its handle. */
  private conversation: Conversation | null = null;

  private constructor(private readonly model: ModelResources) {}

  static async load(params: LoadParams, log: LogFn): Promise<Engine> {
    return new Engine(await ModelResources.load(params, log));
  }

  get loaded(): LoadResult {
    return this.model.loaded;
  }

  /** Logits after the last forward (tests compare them to references). */
  get lastLogits(): Float32Array | null {
    return this.conversation?.lastLogits ?? null;
  }

  countTokens(texts: string[]): number[] {
    return this.model.countTokens(texts);
  }

  snapshot(): Pick<RuntimeStats, 'model' | 'device' | 'think' | 'cache' | 'masks'> {
    const conv = this.conversation;
    return {
      model: this.loaded.model,
      device: this.loaded.device,
      think: conv?.settings.think ?? this.model.defaultSettings.think,
      cache: conv?.stats(),
      masks: conv?.masks() ?? undefined,
    };
  }

  async dispose(): Promise<void> {
    this.conversation = null;
    await this.model.dispose();
  }

  async generate(p: GenerateParams, hooks: EngineHooks): Promise<GenerateResult> {
    const turn = await this.startTurn(p);
    try {
      const prefill = await this.prefill(turn, hooks);
      if (!prefill.logits) return this.cancelledPrefill(turn, prefill.ms);
      if (!turn.extend) await this.compress(turn, hooks);
      const answer = await this.decode(turn, prefill.logits, hooks);
      turn.conv.recordTurn(turn.messages, answer.text, answer.finish === 'eos' ? answer.ids[answer.ids.length - 1] : null);
      this.report(turn, hooks, 'done', turn.promptIds.length, 0, answer.ids.length);
      return this.result(turn, prefill.ms, answer);
    } catch (e) {
      // Whatever step failed left a cache that matches no conversation.
      this.conversation = null;
      throw e;
    }
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
    this.model.checkPrompt([...p.promptIds, ...p.continuation], 0);
    const V = this.model.config.vocabSize;
    const conv = await this.freshConversation(this.model.requestSettings(p), p.promptIds.length + p.continuation.length);
    let last: Float32Array | null = null;
    for (let at = 0; at < p.promptIds.length; at += this.model.prefillChunk)
      last = await conv.forward(p.promptIds.slice(at, at + this.model.prefillChunk), p.promptIds.length);
    await conv.compress(conv.settings.think.flush > 0 ? p.continuation.length : 0);
    const logits = [last!.slice(0, V)];
    const chunk = p.chunk ?? 64;
    const feed = p.continuation.slice(0, -1);
    for (let at = 0; at < feed.length; at += chunk) {
      const ids = feed.slice(at, at + chunk);
      const out = await conv.forward(ids, null, ids.map((_, i) => i));
      for (let r = 0; r < ids.length; r++) logits.push(out.slice(r * V, (r + 1) * V));
    }
    return { logits, cache: conv.stats() };
  }

  // ---------------------------------------------------------------------------------------------
  // The steps of a generation
  // ---------------------------------------------------------------------------------------------

  /**
   * What the request reads and into which cache. A follow-up must name the held cache's handle;
   * anything else is refused before any work, and the held cache stays as it was.
   */
  private async startTurn(p: GenerateParams): Promise<Turn> {
    const asked = extendHandle(p.cache);
    if (asked === undefined) return this.freshTurn(p, p.prompt);
    const held = this.conversation;
    if (asked === null || !held || held.id !== asked) throw new StaleCacheError(asked, held?.id ?? null);
    const follow = held.followUp(p.prompt);
    // The chat template renders earlier turns differently now: the whole conversation is read afresh.
    if (!follow.extend) return this.freshTurn(p, { messages: follow.messages });
    this.model.checkPrompt(follow.ids, held.position);
    const budget = this.answerBudget(p, held.position + follow.ids.length);
    return { p, conv: held, promptIds: follow.ids, messages: follow.messages, extend: true, budget };
  }

  /**
   * A prompt read into a new cache, with its own settings (memory-budget mode picks them to fit).
   * Everything is checked before the held cache is let go: a refused request leaves it usable.
   */
  private async freshTurn(p: GenerateParams, prompt: Prompt): Promise<Turn> {
    const promptIds = this.model.encode(prompt);
    this.model.checkPrompt(promptIds, 0);
    const budget = this.answerBudget(p, promptIds.length);
    let settings = this.model.requestSettings(p);
    let budgetChoice: BudgetChoice | undefined;
    const budgetMb = p.memoryBudgetMb ?? this.model.params.memoryBudgetMb;
    if (budgetMb !== undefined) {
      budgetChoice = chooseByBudget(budgetMb, promptIds.length, budget, settings, this.loaded.model);
      settings = { think: budgetChoice.think, compression: budgetChoice.compression };
    }
    const conv = await this.freshConversation(settings, promptIds.length + budget);
    return { p, conv, promptIds, messages: 'messages' in prompt ? prompt.messages : null, extend: false, budget, budgetChoice };
  }

  /** Reads the prompt chunk by chunk; `logits` is null when a cancel stopped it on the way. */
  private async prefill(turn: Turn, hooks: EngineHooks): Promise<{ logits: Float32Array | null; ms: number }> {
    const { promptIds: ids, conv } = turn;
    const chunk = this.model.prefillChunk;
    const t0 = performance.now();
    let logits: Float32Array | null = null;
    for (let at = 0; at < ids.length; at += chunk) {
      if (hooks.isCancelled()) return { logits: null, ms: performance.now() - t0 };
      const part = ids.slice(at, at + chunk);
      // A fresh prompt's last window rows feed ThinK's statistic; a follow-up's do not (its cache is compressed already).
      logits = await conv.forward(part, turn.extend ? null : ids.length);
      const read = at + part.length;
      this.report(turn, hooks, 'prefill', read, (read * 1000) / (performance.now() - t0), 0);
    }
    return { logits, ms: performance.now() - t0 };
  }

  /** After a fresh prompt: eviction, value masks, ThinK, KIVI; what was kept goes out as masks. */
  private async compress(turn: Turn, hooks: EngineHooks): Promise<void> {
    const { conv } = turn;
    // With flush on, the cache makes room for the answer now rather than on every step.
    await conv.compress(conv.settings.think.flush > 0 ? turn.budget : 0);
    const masks = conv.masks();
    if (masks) hooks.onMasks({ requestId: turn.p.requestId, masks });
  }

  /** Sample, stream, feed the token back: the cache always holds the whole answer, as a follow-up needs. */
  private async decode(turn: Turn, first: Float32Array, hooks: EngineHooks): Promise<Answer> {
    const { p, conv } = turn;
    const sampler = new Sampler(p.sampling ?? {});
    // Generated text continues the prompt: keep the first token's leading space.
    const tok = this.model.tokenizer;
    const decoder = tok ? new StreamDecoder(tok, { continuation: true, skipSpecial: true }) : null;
    const stops = new StopMatcher(p.stop ?? []);
    const history = [...turn.promptIds];
    const a: Answer = { ids: [], text: '', finish: 'length', ms: 0, forwards: 0 };
    const emit = (piece: string, id: number) => {
      if (!piece) return;
      a.text += piece;
      hooks.onToken({ requestId: p.requestId, text: piece, id });
    };
    const t0 = performance.now();
    let logits = first;
    while (a.ids.length < turn.budget) {
      if (hooks.isCancelled()) {
        a.finish = 'cancelled';
        break;
      }
      const id = sampler.sample(logits, history);
      a.ids.push(id);
      history.push(id);
      const isEos = this.model.isEos(id);
      if (!isEos && decoder) {
        const { emit: out, stopped } = stops.push(decoder.push(id));
        emit(out, id);
        if (stopped) a.finish = 'stop';
      }
      if (isEos) a.finish = 'eos';
      logits = await conv.forward([id], null);
      a.forwards++;
      this.report(turn, hooks, 'decode', turn.promptIds.length, (a.forwards * 1000) / (performance.now() - t0), a.ids.length);
      if (a.finish !== 'length') break;
      if (conv.position >= this.model.config.contextLength) {
        a.finish = 'context';
        break;
      }
    }
    if (decoder && a.finish !== 'stop') emit(stops.push(decoder.flush()).emit + stops.flush(), -1);
    a.ms = performance.now() - t0;
    return a;
  }

  private result(turn: Turn, prefillMs: number, a: Answer): GenerateResult {
    const n = turn.promptIds.length;
    return {
      requestId: turn.p.requestId,
      ids: a.ids,
      text: a.text,
      promptTokens: n,
      finishReason: a.finish,
      cache: turn.conv.stats(),
      budget: turn.budgetChoice,
      timings: {
        loadMs: this.loaded.loadMs,
        prefillMs,
        prefillTokensPerSec: (n * 1000) / prefillMs,
        decodeMsPerToken: a.forwards ? a.ms / a.forwards : 0,
      },
      cacheId: turn.conv.id,
    };
  }

  /**
   * A generation cancelled while its prompt was read (a cancel during decode returns normally,
   * with a cache a follow-up can extend). A half-read prompt matches no conversation: the cache
   * goes, and the result hands out no handle, so a follow-up has to start over.
   */
  private cancelledPrefill(turn: Turn, prefillMs: number): GenerateResult {
    this.conversation = null;
    const { layers, kvHeads, headDim } = this.model.config;
    return {
      requestId: turn.p.requestId,
      ids: [],
      text: '',
      promptTokens: turn.promptIds.length,
      finishReason: 'cancelled',
      cache: new KvCache(layers, kvHeads, headDim, 0, this.model.runner.layout).stats(),
      timings: { loadMs: this.loaded.loadMs, prefillMs, prefillTokensPerSec: 0, decodeMsPerToken: 0 },
      cacheId: null,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------------------------

  /** A new conversation becomes the held one; the old cache is let go first, so both never coexist. */
  private async freshConversation(settings: Conversation['settings'], capacity: number): Promise<Conversation> {
    this.conversation = null;
    this.conversation = await Conversation.start(this.model, settings, capacity);
    return this.conversation;
  }

  /** New tokens a request may generate after `used` cached and prompt tokens. */
  private answerBudget(p: GenerateParams, used: number): number {
    return Math.min(p.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS, this.model.config.contextLength - used);
  }

  private report(turn: Turn, hooks: EngineHooks, phase: ProgressNotification['phase'], processed: number, tokensPerSec: number, generated: number): void {
    hooks.onProgress({ requestId: turn.p.requestId, phase, processed, total: turn.promptIds.length, tokensPerSec, generated, cache: turn.conv.stats() });
  }
}

/**
 * The handle a request asks to extend: undefined for a fresh cache, null when it asks to extend
 * without naming one (the old `cache: 'extend'`, or `{ extend }` without a string), which is
 * refused like a stale handle: the caller cannot know which cache it would get.
 */
function extendHandle(cache: CacheRequest | undefined): string | null | undefined {
  if (cache === undefined || cache === 'reset') return undefined;
  if (typeof cache === 'object' && cache !== null && typeof cache.extend === 'string' && cache.extend) return cache.extend;
  if (typeof cache === 'object' || (cache as unknown) === 'extend') return null;
  throw new Error(`cache must be 'reset' or { extend: cacheId } (got ${JSON.stringify(cache)})`);
}
