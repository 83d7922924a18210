// The remote engine (thinkLens.engine = an OpenAI-compatible URL): answers the runtime's requests
// (load, generate, countTokens, cancel, stats) from a server over HTTP, so the commands work
// unchanged. What differs, and the README's "Remote engine" section says:
//   - ThinK pruning and the KV cache are the server's business; think-lens serve reports its cache
//     figures (`think_lens.cache`), other servers report none here (zeros).
//   - No follow-up reuse: results carry cacheId null, so each question sends its whole context.
//   - Token counts come from the server's /tokenize where it has one, else ~4 characters a token.

import * as vscode from 'vscode';
import type {
  CacheStats,
  ChatMessage,
  CountTokensResult,
  FinishReason,
  GenerateParams,
  GenerateResult,
  LoadResult,
  RpcRequests,
  RuntimeStats,
  TokenNotification,
} from '../../core/protocol/rpc';
import type { RemoteEngineInfo } from '../../core/protocol/webview';
import type { RuntimeLog } from '../runtimeClient';
import { OpenAiClient, RemoteCancelled, type RemoteTimeouts } from './openaiClient';
import { isLlamaCppProps, kindFromModels, llamaCppContext, llamaCppFigures, thinkLensFigures, vllmFigures, type ServerKind } from './serverReport';

/** A model context to assume when the server does not say. */
const FALLBACK_CONTEXT = 8192;
/** Characters per token when the server cannot count them. */
const CHARS_PER_TOKEN = 4;

export const REMOTE_NOTE = "ThinK pruning and the cache are the server's business";

type Params<K extends keyof RpcRequests> = RpcRequests[K][0];
type Result<K extends keyof RpcRequests> = RpcRequests[K][1];

export interface RemoteEngineOptions {
  /** The API base (normalized: ends with /v1). */
  url: string;
  apiKey?: string;
  /** The model id to ask for (default: the first /models lists). */
  model?: string;
  timeouts?: Partial<RemoteTimeouts>;
  log: RuntimeLog;
  onToken(n: TokenNotification): void;
  /** The server's figures changed (fetched after an answer). */
  onReport?(): void;
}

const ZERO_CACHE: CacheStats = {
  tokens: 0,
  prunedTokens: 0,
  fullTokens: 0,
  keyBytes: 0,
  valueBytes: 0,
  fullKeyBytes: 0,
  pruneRatio: 0,
  bytesPerElement: 0,
  allocatedBytes: 0,
  bytesPerToken: 0,
  fp16FullBytesPerToken: 0,
  compressedBytesPerToken: 0,
  evictedTokens: 0,
  quantizedTokens: 0,
};

export class RemoteEngine {
  readonly http: OpenAiClient;
  kind: ServerKind = 'unknown';
  model: string | undefined;
  private report: RemoteEngineInfo['metrics'];
  private loadResult: LoadResult | undefined;
  private readonly running = new Map<string, AbortController>();
  private estimateLogged = false;
  private tokenizeWorks: boolean | undefined;

  constructor(private readonly opts: RemoteEngineOptions) {
    this.http = new OpenAiClient({ baseUrl: opts.url, apiKey: opts.apiKey, timeouts: opts.timeouts });
  }

  get url(): string {
    return this.http.baseUrl;
  }

  get busy(): boolean {
    return this.running.size > 0;
  }

  /** What the Inspector shows. */
  info(): RemoteEngineInfo {
    const note = `Remote engine ${this.url}: ${REMOTE_NOTE}${this.kind === 'think-lens' ? ' (think-lens serve prunes with its own settings)' : ''}.`;
    return this.report ? { url: this.url, note, metrics: this.report } : { url: this.url, note };
  }

  /** The same request surface as RuntimeClient (src/runtimeClient.ts). */
  async request<K extends keyof RpcRequests>(method: K, params: Params<K>, token?: vscode.CancellationToken): Promise<Result<K>> {
    const r = (value: unknown) => value as Result<K>;
    switch (method) {
      case 'load':
        return r(await this.withSignal(token, (s) => this.load(s)));
      case 'generate':
        return r(await this.generate(params as GenerateParams, token));
      case 'countTokens':
        return r({ counts: await this.withSignal(token, (s) => this.countTokens((params as Params<'countTokens'>).texts, s)) } satisfies CountTokensResult);
      case 'cancel': {
        const ac = this.running.get((params as Params<'cancel'>).requestId);
        ac?.abort();
        return r({ cancelled: Boolean(ac) });
      }
      case 'stats':
        return r({ loaded: Boolean(this.loadResult), model: this.loadResult?.model, busy: this.busy, rssBytes: 0 } satisfies RuntimeStats);
      case 'unload':
        return r(undefined);
      default:
        throw new Error(`the remote engine does not answer '${String(method)}'`);
    }
  }

  /** Runs `fn` with an AbortSignal that the token cancels; a cancellation rejects with vscode.CancellationError. */
  private async withSignal<T>(token: vscode.CancellationToken | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (token?.isCancellationRequested) throw new vscode.CancellationError();
    const ac = new AbortController();
    const sub = token?.onCancellationRequested(() => ac.abort());
    try {
      return await fn(ac.signal);
    } catch (e) {
      if (e instanceof RemoteCancelled) throw new vscode.CancellationError();
      throw e;
    } finally {
      sub?.dispose();
    }
  }

  /** GET /models: the model and what is known about it (context from the server, else a conservative 8192). */
  private async load(signal: AbortSignal): Promise<LoadResult> {
    const t0 = performance.now();
    const models = await this.http.models(signal);
    if (!models.length) throw new Error(`${this.url} lists no models (GET /models)`);
    const entry = (this.opts.model && models.find((m) => m.id === this.opts.model)) || models[0];
    if (this.opts.model && entry.id !== this.opts.model) {
      this.opts.log.warn(`remote: ${this.url} does not list the model '${this.opts.model}'; using ${String(entry.id)}`);
    }
    this.model = String(entry.id);
    this.kind = kindFromModels(models);
    let contextLength = numberField(entry, 'context_length') ?? numberField(entry, 'max_model_len');
    if (this.kind === 'unknown' || this.kind === 'llama.cpp') {
      // llama.cpp's server says its context in /props (and lists owned_by 'llamacpp').
      const props = await this.http.extra('GET', '/props', undefined, signal).catch(() => undefined);
      if (isLlamaCppProps(props)) {
        this.kind = 'llama.cpp';
        contextLength ??= llamaCppContext(props);
      }
    }
    const known = contextLength !== undefined;
    contextLength ??= FALLBACK_CONTEXT;
    this.opts.log.info(
      `remote: ${this.url} serves ${this.model} (${this.kind === 'unknown' ? 'an OpenAI-compatible server' : this.kind}), context ${contextLength} tokens${known ? '' : ' (assumed: the server does not say)'}`,
    );
    // The shape the budget needs; layers/heads of 1 make the memory budget moot (the server's business).
    this.loadResult = {
      model: {
        modelDir: `${this.url} ${this.model}`,
        architecture: 'remote',
        layers: 1,
        queryHeads: 1,
        kvHeads: 1,
        headDim: 1,
        hiddenSize: 0,
        vocabSize: 0,
        contextLength,
        dtype: 'F16',
        cachePrecision: 'float16',
        parameters: 0,
        hasChatTemplate: true,
      },
      device: 'cpu',
      think: { ratio: 0, window: 32, recent: 32, flush: 0 },
      loadMs: performance.now() - t0,
    };
    return this.loadResult;
  }

  private async generate(p: GenerateParams, token?: vscode.CancellationToken): Promise<GenerateResult> {
    if (!this.model) await this.withSignal(token, (s) => this.load(s));
    const messages = promptMessages(p);
    const ac = new AbortController();
    this.running.set(p.requestId, ac);
    const sub = token?.onCancellationRequested(() => ac.abort());
    if (token?.isCancellationRequested) ac.abort();
    const ids: number[] = [];
    try {
      const res = await this.http.chatStream(
        {
          model: this.model!,
          messages,
          ...(p.maxNewTokens !== undefined ? { max_tokens: p.maxNewTokens } : {}),
          temperature: p.sampling?.temperature ?? 0,
          ...(p.stop?.length ? { stop: p.stop } : {}),
        },
        (text) => {
          ids.push(-1);
          this.opts.onToken({ requestId: p.requestId, text, id: -1 });
        },
        ac.signal,
      );
      const promptTokens = res.usage?.prompt_tokens ?? (await this.countTokens(messages.map((m) => m.content)).catch(() => [0])).reduce((a, b) => a + b, 0);
      const serverCache = res.thinkLens?.cache;
      const prefillMs = res.firstDeltaMs ?? res.totalMs;
      const decodeMs = res.totalMs - prefillMs;
      return {
        requestId: p.requestId,
        ids,
        text: res.text,
        promptTokens,
        finishReason: res.cancelled ? 'cancelled' : finishReason(res.finishReason),
        cache: serverCache ? { ...ZERO_CACHE, ...pickNumbers(serverCache) } : ZERO_CACHE,
        timings: {
          loadMs: 0,
          prefillMs,
          prefillTokensPerSec: prefillMs > 0 ? (promptTokens * 1000) / prefillMs : 0,
          decodeMsPerToken: ids.length > 1 ? decodeMs / (ids.length - 1) : 0,
        },
        // A remote server keeps no cache this extension could name: every question sends its whole context.
        cacheId: null,
      };
    } finally {
      sub?.dispose();
      this.running.delete(p.requestId);
      void this.refreshReport();
    }
  }

  /** Token counts: the server's /tokenize where it has one, else an estimate (logged once). */
  private async countTokens(texts: string[], signal?: AbortSignal): Promise<CountTokensResult['counts']> {
    if (this.tokenizeWorks !== false && this.kind !== 'unknown') {
      try {
        const counts = await this.tokenize(texts, signal);
        this.tokenizeWorks = true;
        return counts;
      } catch (e) {
        if (e instanceof RemoteCancelled) throw e;
        this.tokenizeWorks = false;
        this.opts.log.warn(`remote: ${this.url} did not count tokens (${(e as Error).message}); estimating instead`);
      }
    }
    if (!this.estimateLogged) {
      this.estimateLogged = true;
      this.opts.log.info(`remote: token counts are estimates (~${CHARS_PER_TOKEN} characters per token): ${this.url} has no tokenize endpoint ThinK Lens knows`);
    }
    return texts.map((t) => Math.ceil(t.length / CHARS_PER_TOKEN));
  }

  private async tokenize(texts: string[], signal?: AbortSignal): Promise<number[]> {
    if (this.kind === 'think-lens') {
      const body = (await this.http.extra('POST', '/tokenize', { content: texts }, signal)) as { counts?: unknown };
      if (!Array.isArray(body.counts) || body.counts.length !== texts.length) throw new Error('/tokenize answered without counts');
      return body.counts as number[];
    }
    // llama.cpp: { content } -> { tokens }; vLLM: { model, prompt } -> { count, tokens }. One text a request, 8 at a time.
    const one = async (text: string): Promise<number> => {
      const body = (await this.http.extra('POST', '/tokenize', this.kind === 'vllm' ? { model: this.model, prompt: text, add_special_tokens: false } : { content: text }, signal)) as {
        count?: unknown;
        tokens?: unknown;
      };
      if (typeof body.count === 'number') return body.count;
      if (Array.isArray(body.tokens)) return body.tokens.length;
      throw new Error('/tokenize answered without tokens');
    };
    const out = new Array<number>(texts.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(8, texts.length) }, async () => {
        while (next < texts.length) {
          const i = next++;
          out[i] = await one(texts[i]);
        }
      }),
    );
    return out;
  }

  /** Fetches what the server reports (best effort; failures are logged and leave the last figures). */
  async refreshReport(): Promise<void> {
    try {
      let metrics: RemoteEngineInfo['metrics'];
      if (this.kind === 'think-lens') {
        const f = thinkLensFigures(await this.http.extra('GET', '/metrics'));
        if (f) metrics = { source: 'GET /metrics (think-lens serve)', figures: f };
      } else if (this.kind === 'llama.cpp') {
        const [props, slots] = await Promise.all([this.http.extra('GET', '/props').catch(() => undefined), this.http.extra('GET', '/slots').catch(() => undefined)]);
        const f = llamaCppFigures(props, slots);
        if (f.length) metrics = { source: 'GET /props and /slots (llama.cpp server)', figures: f };
      } else {
        const { text } = await this.http.text('/metrics');
        const f = vllmFigures(text);
        if (f) metrics = { source: 'GET /metrics (vLLM)', figures: f };
      }
      if (!metrics) return;
      this.report = metrics;
      this.opts.onReport?.();
    } catch (e) {
      this.opts.log.info(`remote: no figures from ${this.url} (${(e as Error).message})`);
    }
  }
}

function numberField(o: Record<string, unknown>, key: string): number | undefined {
  const v = o[key];
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}

function pickNumbers(o: Record<string, unknown>): Partial<CacheStats> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) if (k in ZERO_CACHE && typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return out as Partial<CacheStats>;
}

function promptMessages(p: GenerateParams): ChatMessage[] {
  if (typeof p.cache === 'object') throw new Error('the remote engine keeps no context between requests (cache: extend)');
  if ('messages' in p.prompt) return p.prompt.messages;
  if ('text' in p.prompt) return [{ role: 'user', content: p.prompt.text }];
  throw new Error('the remote engine takes text or messages, not token ids');
}

/** OpenAI's finish_reason in the runtime's words. */
function finishReason(r: string | null): FinishReason {
  if (r === 'length') return 'length';
  return 'eos';
}
