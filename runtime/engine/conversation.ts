// One conversation's cache: the KvCache and the settings it is compressed under, ThinK's query
// statistic and the eviction window's queries gathered while its prompt is read, and the chat it
// holds as text, so that a follow-up feeds only what the cache lacks. Each one has a handle
// (GenerateResult.cacheId): a fresh cache is a new Conversation with a new handle, a follow-up
// extends the same one, and a request naming any other handle is refused (StaleCacheError).
import { randomUUID } from 'node:crypto';
import { Tensor } from 'onnxruntime-node';
import type { CacheStats, ChatMessage, Prompt, ThinkMasks } from '../../core/protocol/rpc';
import { compressAfterPrefill, needsWindowMass } from '../cache/compress';
import { flushIfDue } from '../cache/think';
import { DEFAULT_EVICT } from '../cache/evict';
import { KvCache } from '../cache/kvcache';
import { scorerInput, scorerOutput } from '../graph/scorer';
import type { CacheSettings, ModelResources } from './model';

/** The chat the cache holds: its messages (the last is the answer) and what they render to, as cached. */
interface ChatHistory {
  messages: ChatMessage[];
  rendered: string;
}

/** How a follow-up goes on: appended to this cache, or (template not prefix-stable) re-read whole into a fresh one. */
export type FollowUp = { extend: true; ids: number[]; messages: ChatMessage[] | null } | { extend: false; messages: ChatMessage[] };

export class Conversation {
  /**
   * The handle. Random rather than counted: a restarted runtime must never take a handle from
   * the process before it for one of its own.
   */
  readonly id = randomUUID();
  /** Per layer [Hkv * D]: ThinK's query statistic, accumulated over prefill chunks. */
  private readonly querySquares: Float64Array[];
  /** Per layer [w, Hq, D]: the eviction/value window's queries, and how many rows are filled. */
  private readonly windowQueries: Float32Array[];
  private windowFilled = 0;
  private chat: ChatHistory | null = null;
  /** The prompt was compressed: from now on generated and follow-up tokens flush. */
  private compressed = false;
  /** Logits after the last forward (tests compare them to references). */
  lastLogits: Float32Array | null = null;

  private constructor(
    private readonly model: ModelResources,
    readonly cache: KvCache,
    readonly settings: CacheSettings,
  ) {
    const { layers, kvHeads, headDim: D, queryHeads: Hq } = model.config;
    this.querySquares = Array.from({ length: layers }, () => new Float64Array(kvHeads * D));
    const win = settings.compression.evict?.window ?? DEFAULT_EVICT.window;
    this.windowQueries = needsWindowMass(settings.compression) ? Array.from({ length: layers }, () => new Float32Array(win * Hq * D)) : [];
  }

  /** An empty cache for `capacity` tokens, in the layout `settings` need (the graph follows it). */
  static async start(model: ModelResources, settings: CacheSettings, capacity: number): Promise<Conversation> {
    const layout = await model.layoutFor(settings.compression);
    const { layers, kvHeads, headDim } = model.config;
    return new Conversation(model, new KvCache(layers, kvHeads, headDim, capacity, layout), settings);
  }

  /** Tokens in the cache: where the next one goes. */
  get position(): number {
    return this.cache.position;
  }

  stats(): CacheStats {
    return this.model.cacheStats(this.cache);
  }

  /**
   * One pass of the graph over `ids`. `promptLength` is set while the prompt of a fresh cache is
   * read: its last window rows feed ThinK's query squares and the eviction/value window. Then
   * generated keys get flushed to compact storage when due.
   */
  async forward(ids: number[], promptLength: number | null, logitRows?: number[]): Promise<Float32Array> {
    const { think, compression } = this.settings;
    const { queryHeads, headDim } = this.model.config;
    const win = compression.evict?.window ?? DEFAULT_EVICT.window;
    let windowRows = 0;
    this.lastLogits = await this.model.runner.step(this.cache, ids, {
      windowFrom: promptLength === null ? Infinity : promptLength - Math.min(think.window, promptLength),
      querySquares: this.querySquares,
      logitRows,
      scoreWindowFrom: promptLength === null || !needsWindowMass(compression) ? Infinity : promptLength - Math.min(win, promptLength),
      onWindowQueries: (l, rows, count) => {
        this.windowQueries[l].set(rows, this.windowFilled * queryHeads * headDim);
        windowRows = count;
      },
    });
    this.windowFilled += windowRows;
    this.flushIfDue();
    await this.model.runner.resident?.sync(this.cache);
    return this.lastLogits;
  }

  /**
   * After the prompt: eviction, value masks, ThinK, KIVI (docs/compression.md). `spare` is how
   * many tokens may still come, so a flush can size its room.
   */
  async compress(spare: number): Promise<void> {
    const { compression } = this.settings;
    const mass = needsWindowMass(compression) ? await this.windowMass() : null;
    const outputEnergy = compression.pruneValues > 0 ? this.model.valueEnergy() : null;
    compressAfterPrefill({ cache: this.cache, querySquares: this.querySquares, mass, outputEnergy, ...this.settings, config: this.model.config, spare });
    this.compressed = true;
    await this.model.runner.resident?.sync(this.cache);
  }

  /** What ThinK (and eviction, value pruning) kept, per layer and KV head; null before anything was pruned. */
  masks(): ThinkMasks | null {
    const D = this.model.config.headDim;
    if (!this.cache.masked && this.cache.evicted === 0) return null;
    return {
      headDim: D,
      layers: this.cache.layerCaches.map((layer) =>
        layer.heads.map((h) => ({
          kept: Array.from(h.keys),
          scores: Array.from(h.scores ?? []),
          ...(h.values.length < D ? { valueKept: Array.from(h.values) } : {}),
          ...(h.keptTokens ? { keptTokens: Array.from(h.keptTokens) } : {}),
        })),
      ),
    };
  }

  /**
   * What a follow-up feeds: only what the cache lacks. A chat turn is rendered after the cached
   * conversation and the cached text cut off; when the chat template renders earlier turns
   * differently once a turn follows, the whole conversation has to be read again instead.
   */
  followUp(prompt: Prompt): FollowUp {
    if ('ids' in prompt) return { extend: true, ids: prompt.ids, messages: null };
    const tok = this.model.requireTokenizer();
    if ('text' in prompt) return { extend: true, ids: tok.encode(prompt.text, { addBos: false }), messages: null };
    if (!this.chat) throw new Error('a chat follow-up needs a cache that holds a chat; this one was started from text or token ids');
    const { messages: history, rendered } = this.chat;
    const answer = history[history.length - 1].content;
    // Templates that write "Assistant: {content}" want the answer without the leading space it streamed with.
    for (const content of [answer, answer.trimStart()]) {
      const messages = [...history.slice(0, -1), { role: 'assistant' as const, content }, ...prompt.messages];
      const full = tok.renderChat(messages, true);
      if (full.startsWith(rendered)) return { extend: true, ids: tok.encode(full.slice(rendered.length), { addBos: false }), messages };
    }
    this.model.log('info', 'the chat template renders earlier turns differently once a turn follows; re-reading the conversation');
    return { extend: false, messages: [...history, ...prompt.messages] };
  }

  /**
   * Records a finished turn: `messages` (null for text and id prompts) and the answer, as text the
   * cache now holds. `endId` is the end-of-turn token when the answer ended with it (it is cached too).
   */
  recordTurn(messages: ChatMessage[] | null, answer: string, endId: number | null): void {
    if (!messages) {
      // The cache now holds text no chat rendering accounts for: a chat follow-up could not line up.
      this.chat = null;
      return;
    }
    const tok = this.model.requireTokenizer();
    const end = endId === null ? '' : tok.decode([endId]);
    this.chat = { messages: [...messages, { role: 'assistant', content: answer }], rendered: tok.renderChat(messages, true) + answer + end };
  }

  /** [layer][kvHead][n]: the eviction window's attention mass on every cached (all full) token. */
  private async windowMass(): Promise<Float32Array[][]> {
    const { layers, kvHeads, headDim: D, queryHeads: Hq } = this.model.config;
    const n = this.cache.full;
    const w = this.windowFilled;
    const scorer = await this.model.scorerSession();
    const mask = new Float32Array(w * n);
    for (let r = 0; r < w; r++) for (let u = n - w + r + 1; u < n; u++) mask[r * n + u] = -Infinity;
    const feeds: Record<string, Tensor> = { mask: new Tensor('float32', mask, [w, n]) };
    for (let l = 0; l < layers; l++) {
      const rows = this.windowQueries[l]; // [w, Hq, D] -> [Hq, w, D]
      const qw = new Float32Array(Hq * w * D);
      for (let r = 0; r < w; r++) for (let i = 0; i < Hq; i++) qw.set(rows.subarray((r * Hq + i) * D, (r * Hq + i + 1) * D), (i * w + r) * D);
      feeds[scorerInput.windowQueries(l)] = new Tensor('float32', qw, [Hq, w, D]);
      for (let g = 0; g < kvHeads; g++) feeds[scorerInput.keys(l, g)] = new Tensor('float32', this.cache.keysOf(l, g).subarray(0, n * D), [n, D]);
    }
    const out = await scorer.run(feeds);
    return Array.from({ length: layers }, (_, l) => Array.from({ length: kvHeads }, (_, g) => out[scorerOutput(l, g)].data as Float32Array));
  }

  /** Generated keys get thinner too, once the prompt is compressed (ThinK scores the prompt's full keys first). */
  private flushIfDue(): void {
    if (this.compressed) flushIfDue(this.cache, this.settings.think);
  }
}
