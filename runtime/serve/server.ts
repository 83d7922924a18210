// `think-lens serve`: the runtime behind an OpenAI-compatible HTTP API (node:http only), so ThinK can
// run on a remote GPU machine and any OpenAI client (SDKs, curl, the extension's remote mode) can
// use it. The engine generates one sequence at a time (batch 1), so the server serves one
// generation at a time. Requests that arrive meanwhile wait in a bounded FIFO queue (default 4):
// refusing at once would fail a client that stops an answer and asks again straight away, since
// the server may read the new request before it sees the old connection close. Past the queue's
// bound a request gets 429 with Retry-After (OpenAI's SDKs retry those themselves). A client that
// disconnects cancels its generation in the engine, or leaves the queue if it was waiting.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import type { GenerateResult, LoadParams, LoadResult, TokenNotification } from '../../core/protocol/rpc';
import { MemoryBudgetError } from '../cache/memoryBudget';
import { BusyError, EngineHost, NotLoadedError, WorkerExitedError, type LogLevel } from '../host/engineHost';
import { ContextOverflowError } from '../model/errors';
import { ApiError, openAiFinish, parseRequest, thinkLensInfo, type ParsedRequest, type Usage } from './openaiTypes';
import { SseStream } from './sse';

export interface ServeOptions {
  load: LoadParams;
  /** Interface to bind (default 127.0.0.1: reachable from this machine only). */
  host?: string;
  /** 0 picks a free port (tests). Default 8080. */
  port?: number;
  /** The model id clients see (default: the model folder's or file's name). */
  name?: string;
  /** When set, every request needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Requests that may wait while one generates (default 4; 0: refuse with 429 at once). */
  queue?: number;
  /** Largest request body accepted (default 4 MiB: a long prompt, never a file upload). */
  maxBodyBytes?: number;
  onLog?(level: LogLevel, message: string): void;
}

export const DEFAULT_MAX_BODY_BYTES = 4 * 2 ** 20;

export const DEFAULT_QUEUE = 4;

interface Active {
  requestId: string;
  onToken(n: TokenNotification): void;
  /** Its client left and the engine was told to stop (it does within one step). */
  abandoned: boolean;
}

/** The client of a waiting request left: nothing to answer. */
class ClientGone extends Error {}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export class ThinkServer {
  private address = '';
  private readonly http: Server;
  /** The generation being served (one at a time), and where its tokens go. */
  private active: Active | null = null;
  /** Whether a request holds the engine (from its turn until its answer is written). */
  private running = false;
  private readonly waiting: (() => void)[] = [];
  private readonly routes: Record<string, { method: string; handler: Handler }>;
  private readonly apiKeyHash: Buffer | null;

  private constructor(
    private readonly engine: EngineHost,
    readonly loaded: LoadResult,
    readonly modelName: string,
    private readonly opts: ServeOptions,
    private readonly created: number,
  ) {
    // Hashes compared in constant time: the key's length and content never show in response timing.
    this.apiKeyHash = opts.apiKey ? sha256(opts.apiKey) : null;
    this.routes = {
      '/v1/models': { method: 'GET', handler: async (_q, res) => json(res, 200, { object: 'list', data: [this.modelObject()] }) },
      [`/v1/models/${modelName}`]: { method: 'GET', handler: async (_q, res) => json(res, 200, this.modelObject()) },
      '/v1/chat/completions': { method: 'POST', handler: (q, res) => this.complete('chat', q, res) },
      '/v1/completions': { method: 'POST', handler: (q, res) => this.complete('text', q, res) },
      '/metrics': { method: 'GET', handler: (_q, res) => this.metrics(res) },
      '/tokenize': { method: 'POST', handler: (q, res) => this.tokenize(q, res) },
    };
    this.http = createServer((req, res) => void this.handle(req, res));
  }

  /** http://HOST:PORT, once listening. */
  get url(): string {
    return this.address;
  }

  /** Loads the model, then listens; a bad model rejects (a ModelError) before any port is opened. */
  static async start(opts: ServeOptions): Promise<ThinkServer> {
    let server: ThinkServer | null = null;
    const engine = new EngineHost({
      onToken: (n) => {
        const a = server?.active;
        if (a && a.requestId === n.requestId) a.onToken(n);
      },
      onLog: (level, message) => opts.onLog?.(level, message),
    });
    try {
      const loaded = await engine.load(opts.load);
      const name = opts.name ?? basename(opts.load.modelDir).replace(/\.gguf$/i, '');
      server = new ThinkServer(engine, loaded, name, opts, Math.floor(Date.now() / 1000));
      await server.listen(opts.host ?? '127.0.0.1', opts.port ?? 8080);
      return server;
    } catch (e) {
      await engine.dispose();
      throw e;
    }
  }

  /** Stops listening, cancels a running generation, drops open connections and the engine. */
  async close(): Promise<void> {
    this.engine.cancel();
    const closed = new Promise<void>((ok) => this.http.close(() => ok()));
    this.http.closeAllConnections();
    await closed;
    await this.engine.dispose();
  }

  private listen(host: string, port: number): Promise<void> {
    return new Promise((ok, fail) => {
      this.http.once('error', fail);
      this.http.listen(port, host, () => {
        this.http.off('error', fail);
        const a = this.http.address() as AddressInfo;
        const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        this.address = `http://${h}:${a.port}`;
        ok();
      });
    });
  }

  private modelObject() {
    // context_length is non-standard (vLLM says max_model_len): what a client may send in one request.
    return { id: this.modelName, object: 'model', created: this.created, owned_by: 'think-lens', context_length: this.loaded.model.contextLength };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      this.authorize(req);
      const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
      const route = this.routes[path];
      if (!route) throw new ApiError(404, `unknown path ${path || '/'}`, 'invalid_request_error', 'not_found');
      if (req.method !== route.method) {
        res.setHeader('Allow', route.method);
        throw new ApiError(405, `${req.method} is not allowed on ${path}; use ${route.method}`, 'invalid_request_error', 'method_not_allowed');
      }
      await route.handler(req, res);
    } catch (e) {
      this.fail(req, res, e);
    }
  }

  private authorize(req: IncomingMessage): void {
    if (!this.apiKeyHash) return;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m || !timingSafeEqual(sha256(m[1].trim()), this.apiKeyHash))
      throw new ApiError(401, 'missing or wrong API key (send Authorization: Bearer <key>)', 'invalid_request_error', 'invalid_api_key');
  }

  private async metrics(res: ServerResponse): Promise<void> {
    const s = await this.engine.stats();
    json(res, 200, {
      object: 'think_lens.metrics',
      model: this.modelName,
      device: s.device ?? this.loaded.device,
      busy: s.busy,
      queued: this.waiting.length,
      think: s.think ?? this.loaded.think,
      cache: s.cache ? thinkLensInfo(s.cache).cache : null,
      rssBytes: s.rssBytes,
    });
  }

  /**
   * POST /tokenize (non-standard, at the root like llama.cpp's and vLLM's): token counts with the
   * model's tokenizer. `{ content: string }` -> `{ count }`; `{ content: string[] }` -> `{ counts }`.
   * Counts only (the ids stay in the engine's worker); no BOS or chat template is added.
   */
  private async tokenize(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = (await readJson(req, this.opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES)) as { content?: unknown } | null;
    const c = body && typeof body === 'object' ? body.content : undefined;
    const texts = typeof c === 'string' ? [c] : Array.isArray(c) && c.every((t) => typeof t === 'string') ? (c as string[]) : null;
    if (!texts) throw new ApiError(400, "'content' must be a string or an array of strings", 'invalid_request_error', null, 'content');
    const counts = await this.engine.countTokens(texts);
    json(res, 200, typeof c === 'string' ? { count: counts[0] } : { counts });
  }

  private async complete(kind: 'chat' | 'text', req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req, this.opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    const parsed = parseRequest(kind, body);
    // Checked after the body is read and validated, so a bad request is a 400 even while busy.
    await this.turn(res);
    try {
      await this.generate(kind, parsed, res);
    } finally {
      // The engine passes straight to the next in line, so no newcomer can overtake it.
      const next = this.waiting.shift();
      if (next) next();
      else this.running = false;
    }
  }

  /** Waits for the engine (FIFO, bounded); 429 when the queue is full. */
  private async turn(res: ServerResponse): Promise<void> {
    if (!this.running) {
      this.running = true;
      return;
    }
    if (this.waiting.length >= (this.opts.queue ?? DEFAULT_QUEUE)) {
      res.setHeader('Retry-After', '1');
      throw new ApiError(429, 'the server is generating for other requests (one at a time) and its queue is full; retry later', 'rate_limit_error', 'server_busy');
    }
    await new Promise<void>((ok, fail) => {
      const go = () => {
        res.off('close', leave);
        ok();
      };
      const leave = () => {
        const i = this.waiting.indexOf(go);
        if (i >= 0) this.waiting.splice(i, 1);
        fail(new ClientGone());
      };
      res.once('close', leave);
      this.waiting.push(go);
    });
  }

  private async generate(kind: 'chat' | 'text', parsed: ParsedRequest, res: ServerResponse): Promise<void> {
    if (!res.socket || res.socket.destroyed) return; // left just as its turn came
    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const frame = { id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: this.modelName };
    const sse = parsed.stream ? new SseStream(res) : null;
    const usageNull = parsed.includeUsage ? { usage: null } : {};
    let first = true;
    const choice = (text: string | null, finish: string | null) => {
      if (kind === 'text') return { index: 0, text: text ?? '', logprobs: null, finish_reason: finish };
      // OpenAI's first chunk carries the role; later deltas only content, the last none.
      const delta = text === null ? {} : first ? { role: 'assistant', content: text } : { content: text };
      first = false;
      return { index: 0, delta, logprobs: null, finish_reason: finish };
    };
    const generation = this.engine.generate({ ...parsed.gen, requestId: id });
    const active: Active = {
      requestId: id,
      onToken: (n) => {
        if (sse && n.text) sse.send({ ...frame, choices: [choice(n.text, null)], ...usageNull });
      },
      abandoned: false,
    };
    this.active = active;
    // 'close' before the response finished: the client went away (or its socket broke).
    const onClose = () => {
      if (res.writableFinished) return;
      active.abandoned = true;
      this.engine.cancel(id);
    };
    res.on('close', onClose);
    let result: GenerateResult;
    try {
      result = await generation;
    } catch (e) {
      if (sse?.headersSent) {
        // Mid-stream the status is already 200: the error goes as an event, as OpenAI does.
        sse.send(toApiError(e).body());
        sse.done();
        return;
      }
      throw e;
    } finally {
      this.active = null;
      res.off('close', onClose);
    }
    if (active.abandoned) {
      // Nobody to answer; the log says how far it got (tests check the cancel took effect).
      this.opts.onLog?.('info', `${id}: the client left; cancelled after ${result.ids.length} tokens (${result.finishReason})`);
      return;
    }
    const finish = openAiFinish(result.finishReason);
    const usage: Usage = { prompt_tokens: result.promptTokens, completion_tokens: result.ids.length, total_tokens: result.promptTokens + result.ids.length };
    const thinkLens = thinkLensInfo(result.cache, result.timings);
    if (sse) {
      if (kind === 'chat' && first) sse.send({ ...frame, choices: [choice('', null)], ...usageNull }); // no tokens: still the role
      sse.send({ ...frame, choices: [choice(null, finish)], ...usageNull, think_lens: thinkLens });
      if (parsed.includeUsage) sse.send({ ...frame, choices: [], usage });
      sse.done();
      return;
    }
    const answer =
      kind === 'chat'
        ? { index: 0, message: { role: 'assistant', content: result.text }, logprobs: null, finish_reason: finish }
        : { index: 0, text: result.text, logprobs: null, finish_reason: finish };
    json(res, 200, { id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created, model: this.modelName, choices: [answer], usage, think_lens: thinkLens });
  }

  private fail(req: IncomingMessage, res: ServerResponse, e: unknown): void {
    if (e instanceof ClientGone) return;
    const err = toApiError(e);
    if (err.status >= 500) this.opts.onLog?.('error', `${req.method} ${req.url}: ${err.message}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err.status === 413) {
      // The rest of a too-large body is not read: drain what arrives and close after answering.
      res.setHeader('Connection', 'close');
      req.resume();
    }
    json(res, err.status, err.body());
  }
}

/** The runtime's errors as OpenAI's: status, type and code. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const message = (e instanceof Error ? e.message : String(e)).split('\n')[0].trim() || 'error';
  if (e instanceof ContextOverflowError) return new ApiError(400, message, 'invalid_request_error', 'context_length_exceeded');
  if (e instanceof MemoryBudgetError) return new ApiError(400, message, 'invalid_request_error', 'memory_budget_exceeded');
  if (e instanceof BusyError) return new ApiError(429, message, 'rate_limit_error', 'server_busy');
  if (e instanceof NotLoadedError || e instanceof WorkerExitedError) return new ApiError(503, message, 'server_error', 'model_not_loaded');
  return new ApiError(500, message, 'server_error');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** The body as JSON, refused past `limit` bytes (by Content-Length when given, else as it arrives). */
function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const tooLarge = () => new ApiError(413, `the request body is larger than ${limit} bytes`, 'invalid_request_error', 'request_too_large');
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.off('data', onData);
        fail(tooLarge());
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('error', fail);
    req.on('end', () => {
      if (size > limit) return;
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        ok(JSON.parse(text));
      } catch (e) {
        fail(new ApiError(400, `the request body is not valid JSON (${(e as Error).message.split('\n')[0]})`, 'invalid_request_error', 'invalid_json'));
      }
    });
  });
}
