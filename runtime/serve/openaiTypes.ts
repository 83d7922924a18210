// The OpenAI-compatible subset `think-lens serve` speaks (chat completions, text completions,
// models), and the validation that turns a request body into the runtime's GenerateParams. Field
// names follow OpenAI's API reference (the openapi.yaml that SDKs are generated from); unknown
// fields are ignored, as OpenAI-compatible servers do, because SDKs send defaults for many.
import type { CacheStats, ChatMessage, FinishReason, GenerateParams, Prompt, SamplingParams, Timings } from '../../core/protocol/rpc';
import type { ThinkSettings } from '../../core/protocol/settings';

/** An error as OpenAI returns it: HTTP status, and `{ error: { message, type, param, code } }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export type OpenAiFinish = 'stop' | 'length';

/** The runtime's finish reasons in OpenAI's words ('cancelled' only reaches a client on shutdown). */
export function openAiFinish(r: FinishReason): OpenAiFinish {
  return r === 'length' || r === 'context' ? 'length' : 'stop';
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** ThinK's non-standard extra on responses: what the cache holds, for a remote client to show. */
export interface ThinkLensInfo {
  cache: Pick<CacheStats, 'tokens' | 'keyBytes' | 'fullKeyBytes' | 'valueBytes' | 'pruneRatio' | 'bytesPerToken' | 'fp16FullBytesPerToken'>;
  timings?: Timings;
}

export function thinkLensInfo(cache: CacheStats, timings?: Timings): ThinkLensInfo {
  const { tokens, keyBytes, fullKeyBytes, valueBytes, pruneRatio, bytesPerToken, fp16FullBytesPerToken } = cache;
  return { cache: { tokens, keyBytes, fullKeyBytes, valueBytes, pruneRatio, bytesPerToken, fp16FullBytesPerToken }, ...(timings ? { timings } : {}) };
}

/** What a validated request asks of the server. */
export interface ParsedRequest {
  kind: 'chat' | 'text';
  stream: boolean;
  includeUsage: boolean;
  /** The request minus requestId, which the server assigns. */
  gen: Omit<GenerateParams, 'requestId'>;
}

type Body = Record<string, unknown>;

const bad = (message: string, param: string | null = null) => new ApiError(400, message, 'invalid_request_error', null, param);

function optNumber(b: Body, key: string, min: number, max: number, int = false): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v)))
    throw bad(`'${key}' must be ${int ? 'an integer' : 'a number'} in [${min}, ${max}] (got ${JSON.stringify(v)})`, key);
  return v;
}

function optBool(b: Body, key: string): boolean {
  const v = b[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw bad(`'${key}' must be a boolean`, key);
  return v;
}

/** A message's content: a string, or the array-of-parts form with text parts only (no images here). */
function contentText(c: unknown, where: string): string {
  if (typeof c === 'string') return c;
  if (c === null || c === undefined) return ''; // an assistant turn that only called tools
  if (!Array.isArray(c)) throw bad(`'${where}.content' must be a string or an array of text parts`, where);
  return c
    .map((part, i) => {
      const p = part as { type?: unknown; text?: unknown } | null;
      if (!p || p.type !== 'text' || typeof p.text !== 'string') throw bad(`'${where}.content[${i}]' must be { type: 'text', text } (only text is supported)`, where);
      return p.text;
    })
    .join('');
}

const ROLES = new Set(['system', 'user', 'assistant', 'developer']);

function messages(b: Body): ChatMessage[] {
  const m = b.messages;
  if (!Array.isArray(m) || m.length === 0) throw bad("'messages' must be a non-empty array", 'messages');
  return m.map((raw, i) => {
    const msg = raw as { role?: unknown; content?: unknown } | null;
    if (!msg || typeof msg !== 'object' || typeof msg.role !== 'string' || !ROLES.has(msg.role))
      throw bad(`'messages[${i}].role' must be one of system, developer, user, assistant`, `messages[${i}].role`);
    // OpenAI's 'developer' is the newer name of 'system' (o1 and later); the runtime knows 'system'.
    const role = (msg.role === 'developer' ? 'system' : msg.role) as ChatMessage['role'];
    return { role, content: contentText(msg.content, `messages[${i}]`) };
  });
}

function stops(b: Body): string[] | undefined {
  const s = b.stop;
  if (s === undefined || s === null) return undefined;
  const list = typeof s === 'string' ? [s] : s;
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) throw bad("'stop' must be a string or an array of strings", 'stop');
  if (list.length > 4) throw bad("'stop' takes at most 4 strings", 'stop');
  return list as string[];
}

/** The non-standard `think` object: per-request ThinK settings ({ ratio, window, recent, flush }). */
function think(b: Body): Partial<ThinkSettings> | undefined {
  const t = b.think;
  if (t === undefined || t === null) return undefined;
  if (typeof t !== 'object' || Array.isArray(t)) throw bad("'think' must be an object { ratio, window, recent, flush }", 'think');
  const o = t as Body;
  const out: Partial<ThinkSettings> = {};
  if (Array.isArray(o.ratio)) {
    if (!o.ratio.length || o.ratio.some((r) => typeof r !== 'number' || !(r >= 0 && r <= 1))) throw bad("'think.ratio' values must be numbers in [0, 1]", 'think.ratio');
    out.ratio = o.ratio as number[];
  } else {
    const r = optNumber(o, 'ratio', 0, 1);
    if (r !== undefined) out.ratio = r;
  }
  const window = optNumber(o, 'window', 1, 1e6, true);
  const recent = optNumber(o, 'recent', 0, 1e6, true);
  const flush = optNumber(o, 'flush', 0, 1e6, true);
  if (window !== undefined) out.window = window;
  if (recent !== undefined) out.recent = recent;
  if (flush !== undefined) out.flush = flush;
  return out;
}

/** Validates a POST body of /v1/chat/completions ('chat') or /v1/completions ('text'). */
export function parseRequest(kind: 'chat' | 'text', body: unknown): ParsedRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw bad('the request body must be a JSON object');
  const b = body as Body;
  if (b.model !== undefined && typeof b.model !== 'string') throw bad("'model' must be a string", 'model');
  const n = optNumber(b, 'n', 1, 1, true);
  void n; // one choice only: the runtime generates one sequence at a time
  let prompt: Prompt;
  if (kind === 'chat') prompt = { messages: messages(b) };
  else {
    // A one-element array is what some clients send for a single prompt; batches are not served.
    const p = Array.isArray(b.prompt) && b.prompt.length === 1 ? b.prompt[0] : b.prompt;
    if (typeof p !== 'string') throw bad("'prompt' must be a string (one prompt per request)", 'prompt');
    prompt = { text: p };
  }
  // max_completion_tokens is the newer name; max_tokens is what older clients and servers send.
  const maxNew = optNumber(b, 'max_completion_tokens', 1, 1e9, true) ?? optNumber(b, 'max_tokens', 1, 1e9, true);
  // OpenAI's default temperature is 1 (sampling); greedy needs temperature 0, as with OpenAI.
  const sampling: SamplingParams = { temperature: optNumber(b, 'temperature', 0, 2) ?? 1 };
  const topP = optNumber(b, 'top_p', 0, 1);
  if (topP !== undefined) sampling.topP = topP;
  const seed = optNumber(b, 'seed', 0, 2 ** 32 - 1, true);
  if (seed !== undefined) sampling.seed = seed;
  const streamOptions = b.stream_options;
  if (streamOptions !== undefined && streamOptions !== null && (typeof streamOptions !== 'object' || Array.isArray(streamOptions)))
    throw bad("'stream_options' must be an object", 'stream_options');
  const stream = optBool(b, 'stream');
  const includeUsage = stream && optBool((streamOptions ?? {}) as Body, 'include_usage');

  const gen: Omit<GenerateParams, 'requestId'> = { prompt, sampling, cache: 'reset' };
  if (maxNew !== undefined) gen.maxNewTokens = maxNew;
  const stop = stops(b);
  if (stop) gen.stop = stop;
  const t = think(b);
  if (t) gen.think = t;
  return { kind, stream, includeUsage, gen };
}
