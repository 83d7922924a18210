// An HTTP client for OpenAI-compatible servers (think-lens serve, vLLM, llama.cpp's server,
// Ollama): GET {base}/models, a streamed POST {base}/chat/completions, and the few non-OpenAI
// endpoints those servers add at their root (/tokenize, /metrics, /props, /slots). Global fetch
// only. Every failure becomes a RemoteError with one clear line: unreachable, timed out, API key
// refused, not an OpenAI-compatible endpoint, busy, or the server's own error message.
//
// Timeouts: `responseMs` from sending a request to its response's headers (the connection and the
// server's first byte; a streamed answer's headers may wait for the prompt to be read), and
// `idleMs` between two chunks of a streamed answer.

import { SseParser } from './sse';

export interface RemoteTimeouts {
  /** Until the response headers arrive (default 120 s: a server may read a long prompt first). */
  responseMs: number;
  /** Between two chunks of a streamed answer (default 60 s). */
  idleMs: number;
  /** For the small GETs and /tokenize (default 15 s). */
  metaMs: number;
}

const DEFAULT_TIMEOUTS: RemoteTimeouts = { responseMs: 120_000, idleMs: 60_000, metaMs: 15_000 };

export type RemoteErrorKind = 'unreachable' | 'timeout' | 'auth' | 'notCompatible' | 'busy' | 'server' | 'request';

export class RemoteError extends Error {
  constructor(
    readonly kind: RemoteErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

/** The request was cancelled by its caller (not a timeout). */
export class RemoteCancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'RemoteCancelled';
  }
}

/**
 * `thinkLens.engine` as the API's base URL: http(s) only, no query or fragment, trailing slashes
 * dropped, and `/v1` appended unless the path already ends with it. Undefined for anything else.
 */
export function normalizeEngineUrl(raw: string): string | undefined {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return undefined;
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname || u.search || u.hash || u.username || u.password) return undefined;
  const p = u.pathname.replace(/\/+$/, '');
  return `${u.origin}${/\/v1$/.test(p) ? p : `${p}/v1`}`;
}

export interface ChatRequest {
  model: string;
  messages: { role: string; content: string }[];
  max_tokens?: number;
  temperature?: number;
  stop?: string[];
}

export interface ChatStreamResult {
  text: string;
  /** OpenAI's finish_reason of the choice (null when the stream ended without one). */
  finishReason: string | null;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  /** think-lens serve's non-standard extra (cache figures, timings). */
  thinkLens?: { cache?: Record<string, unknown>; timings?: Record<string, unknown> };
  /** Deltas received. */
  chunks: number;
  /** ms from sending to the first content delta (undefined: none came). */
  firstDeltaMs?: number;
  totalMs: number;
  /** True when the caller cancelled: the text is what came before. */
  cancelled: boolean;
}

export interface OpenAiClientOptions {
  /** The API base, normalized (normalizeEngineUrl): ends with /v1. */
  baseUrl: string;
  apiKey?: string;
  timeouts?: Partial<RemoteTimeouts>;
}

export class OpenAiClient {
  readonly baseUrl: string;
  /** The server's root: the base without /v1 (where /tokenize, /metrics, /props and /slots live). */
  readonly rootUrl: string;
  readonly timeouts: RemoteTimeouts;

  constructor(private readonly opts: OpenAiClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.rootUrl = this.baseUrl.replace(/\/v1$/, '');
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  }

  /** GET {base}/models: the `data` list (404 or a wrong shape: not an OpenAI-compatible endpoint). */
  async models(signal?: AbortSignal): Promise<Record<string, unknown>[]> {
    const body = await this.json('GET', `${this.baseUrl}/models`, undefined, signal, true);
    const data = (body as { data?: unknown }).data;
    if (!Array.isArray(data) || data.some((m) => !m || typeof m !== 'object' || typeof (m as { id?: unknown }).id !== 'string')) {
      throw this.notOpenAi(`${this.baseUrl}/models`, 'no `data` list of models with ids');
    }
    return data as Record<string, unknown>[];
  }

  /** A GET or POST returning JSON, for the endpoints outside OpenAI's API (404s are plain errors here). */
  async extra(method: 'GET' | 'POST', path: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
    return this.json(method, `${this.rootUrl}${path}`, body, signal, false);
  }

  /** A GET returning text (Prometheus metrics). */
  async text(path: string, signal?: AbortSignal): Promise<{ contentType: string; text: string }> {
    const url = `${this.rootUrl}${path}`;
    const res = await this.send('GET', url, undefined, this.timeouts.metaMs, signal);
    const text = await this.readAll(res, url, signal);
    if (!res.ok) throw this.httpError(res.status, url, text, false);
    return { contentType: res.headers.get('content-type') ?? '', text };
  }

  /**
   * POST {base}/chat/completions with stream: true; `onDelta` gets each piece of content. A
   * cancelled `signal` ends it early with `cancelled: true` and the text so far.
   */
  async chatStream(req: ChatRequest, onDelta: (text: string) => void, signal?: AbortSignal): Promise<ChatStreamResult> {
    const url = `${this.baseUrl}/chat/completions`;
    const start = performance.now();
    const out: ChatStreamResult = { text: '', finishReason: null, chunks: 0, totalMs: 0, cancelled: false };
    const body = { ...req, stream: true, stream_options: { include_usage: true } };
    let res: Response;
    try {
      res = await this.send('POST', url, body, this.timeouts.responseMs, signal);
    } catch (e) {
      if (e instanceof RemoteCancelled) return { ...out, cancelled: true, totalMs: performance.now() - start };
      throw e;
    }
    if (!res.ok) throw this.httpError(res.status, url, await this.readAll(res, url, signal).catch(() => ''), true);
    const type = res.headers.get('content-type') ?? '';
    if (!/text\/event-stream/i.test(type)) {
      const text = await this.readAll(res, url, signal).catch(() => '');
      throw this.notOpenAi(url, `a ${type || 'response without a content type'} instead of an event stream${text ? `: ${snippet(text)}` : ''}`);
    }
    const parser = new SseParser();
    let done = false;
    const handle = (data: string) => {
      if (done) return;
      if (data.trim() === '[DONE]') {
        done = true;
        return;
      }
      let ev: Record<string, unknown>;
      try {
        ev = JSON.parse(data) as Record<string, unknown>;
      } catch {
        throw this.notOpenAi(url, `an event that is not JSON: ${snippet(data)}`);
      }
      if (ev.error) throw new RemoteError('server', `${this.rootUrl} failed mid-answer: ${errorMessage(ev) ?? 'an error event'}`);
      if (!Array.isArray(ev.choices)) throw this.notOpenAi(url, `an event without \`choices\`: ${snippet(data)}`);
      const choice = ev.choices[0] as { delta?: { content?: unknown }; finish_reason?: unknown } | undefined;
      const content = choice?.delta?.content;
      if (typeof content === 'string' && content.length) {
        out.firstDeltaMs ??= performance.now() - start;
        out.text += content;
        out.chunks++;
        onDelta(content);
      }
      if (typeof choice?.finish_reason === 'string') out.finishReason = choice.finish_reason;
      if (ev.usage && typeof ev.usage === 'object') out.usage = ev.usage as ChatStreamResult['usage'];
      if (ev.think_lens && typeof ev.think_lens === 'object') out.thinkLens = ev.think_lens as ChatStreamResult['thinkLens'];
    };
    try {
      await this.readChunks(res, url, signal, (chunk) => parser.feed(chunk).forEach(handle));
      parser.end().forEach(handle);
    } catch (e) {
      if (e instanceof RemoteCancelled) out.cancelled = true;
      else throw e;
    }
    if (!out.cancelled && !done && out.finishReason === null) {
      throw new RemoteError('server', `${this.rootUrl} closed the answer stream before it finished (no finish_reason, no [DONE])`);
    }
    out.totalMs = performance.now() - start;
    return out;
  }

  private async json(method: 'GET' | 'POST', url: string, body: unknown, signal: AbortSignal | undefined, openAiPath: boolean): Promise<unknown> {
    const res = await this.send(method, url, body, this.timeouts.metaMs, signal);
    const text = await this.readAll(res, url, signal);
    if (!res.ok) throw this.httpError(res.status, url, text, openAiPath);
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed && typeof parsed === 'object') return parsed;
    } catch {
      // below
    }
    throw this.notOpenAi(url, `${res.headers.get('content-type') || 'no content type'}: ${snippet(text)}`);
  }

  /** fetch with the API key, the caller's cancellation and a timeout until the headers arrive. */
  private async send(method: 'GET' | 'POST', url: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<Response> {
    if (signal?.aborted) throw new RemoteCancelled();
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, timeoutMs);
    const onAbort = () => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const headers: Record<string, string> = { accept: body === undefined ? 'application/json' : 'text/event-stream, application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    try {
      const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: ac.signal });
      // The body keeps the same AbortController: cancelling later still stops the read.
      (res as Response & { abort?: () => void }).abort = () => ac.abort();
      return res;
    } catch (e) {
      if (timedOut) throw new RemoteError('timeout', `${this.rootUrl} did not answer within ${seconds(timeoutMs)} (${method} ${pathOf(url)})`);
      if (signal?.aborted) throw new RemoteCancelled();
      throw new RemoteError('unreachable', `cannot reach ${this.rootUrl}: ${networkCause(e)}`);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Reads the body chunk by chunk; `idleMs` without a chunk is a timeout; a cancelled signal stops it. */
  private async readChunks(res: Response, url: string, signal: AbortSignal | undefined, onChunk: (c: Uint8Array) => void): Promise<void> {
    const reader = res.body?.getReader();
    if (!reader) return;
    const abort = (res as Response & { abort?: () => void }).abort;
    let why: 'idle' | 'cancel' | undefined;
    let timer: NodeJS.Timeout | undefined;
    const stop = (w: 'idle' | 'cancel') => {
      why ??= w;
      abort?.();
      void reader.cancel().catch(() => undefined);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => stop('idle'), this.timeouts.idleMs);
    };
    const onAbort = () => stop('cancel');
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      arm();
      for (;;) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (e) {
          if (why) break;
          throw new RemoteError('unreachable', `${this.rootUrl} broke the connection mid-answer: ${networkCause(e)}`);
        }
        if (why || r.done) break;
        arm();
        onChunk(r.value);
      }
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    if (why === 'cancel') throw new RemoteCancelled();
    if (why === 'idle') throw new RemoteError('timeout', `${this.rootUrl} sent nothing for ${seconds(this.timeouts.idleMs)} mid-answer (${pathOf(url)}); gave up`);
  }

  private async readAll(res: Response, url: string, signal?: AbortSignal): Promise<string> {
    const chunks: Uint8Array[] = [];
    await this.readChunks(res, url, signal, (c) => chunks.push(c));
    return Buffer.concat(chunks).toString('utf8');
  }

  private notOpenAi(url: string, what: string): RemoteError {
    return new RemoteError('notCompatible', `${url} answered with something that is not an OpenAI-compatible response (${what})`);
  }

  private httpError(status: number, url: string, body: string, openAiPath: boolean): RemoteError {
    let message: string | undefined;
    try {
      message = errorMessage(JSON.parse(body));
    } catch {
      // not JSON: the status says it
    }
    const detail = message ? `: ${message}` : '';
    if (status === 401 || status === 403) {
      return new RemoteError('auth', `the server refused the API key (HTTP ${status}${detail}); set it with "ThinK Lens: Set Remote Engine API Key"`, status);
    }
    if (status === 404 && openAiPath) {
      return new RemoteError('notCompatible', `${this.baseUrl} is not an OpenAI-compatible endpoint (HTTP 404 on ${pathOf(url)}); thinkLens.engine should be the API's base URL, e.g. http://host:8000/v1`, status);
    }
    if (status === 429) return new RemoteError('busy', `${this.rootUrl} is busy (HTTP 429${detail}); try again shortly`, status);
    if (status >= 500) return new RemoteError('server', `${this.rootUrl} failed (HTTP ${status}${detail || `: ${snippet(body) || 'no message'}`})`, status);
    return new RemoteError('request', `${this.rootUrl} refused the request (HTTP ${status} on ${pathOf(url)}${detail})`, status);
  }
}

/** OpenAI's `{ error: { message } }` (or `{ error: "..." }`, `{ message }` as some servers send). */
function errorMessage(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as { error?: unknown; message?: unknown; detail?: unknown };
  if (typeof b.error === 'string') return b.error;
  if (b.error && typeof b.error === 'object' && typeof (b.error as { message?: unknown }).message === 'string') return (b.error as { message: string }).message;
  if (typeof b.message === 'string') return b.message;
  if (typeof b.detail === 'string') return b.detail;
  return undefined;
}

/** ECONNREFUSED, ENOTFOUND and friends, from undici's "fetch failed" and its cause. */
function networkCause(e: unknown): string {
  let c: unknown = e;
  for (let i = 0; i < 4 && c; i++) {
    const err = c as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof err.code === 'string') {
      if (typeof err.message !== 'string' || !err.message) return err.code;
      return err.message.includes(err.code) ? err.message : `${err.code} (${err.message})`;
    }
    if (!err.cause) break;
    c = err.cause;
  }
  return e instanceof Error ? e.message : String(e);
}

function snippet(text: string): string {
  const s = text.replace(/\s+/g, ' ').trim();
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}
