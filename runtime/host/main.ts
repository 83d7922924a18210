// The runtime process: JSON-RPC over stdio (vscode-jsonrpc), methods and notifications exactly as
// core/protocol names them. The engine runs on a worker thread (engineHost.ts), so this thread
// answers `cancel` and `stats` at once even during a long prefill. stdout carries JSON-RPC only;
// log lines go to the host as `log` notifications, anything else printed goes to stderr. The
// process exits when stdin closes, which is how the extension stops it.
import {
  createMessageConnection,
  ErrorCodes,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  type CancellationToken,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import { Rpc, RpcErrors, type RpcNotifications, type RpcRequests, type StaleCacheData } from '../../core/protocol/rpc';
import { BusyError, EngineHost, NotLoadedError, type LogLevel } from './engineHost';
import { ContextOverflowError, ModelError, StaleCacheError } from '../model/errors';

const debug = process.env.THINK_LENS_DEBUG === '1';

// Anything a dependency prints with console.log would corrupt the JSON-RPC stream: send it to stderr.
for (const name of ['log', 'info', 'debug'] as const) console[name] = (...args: unknown[]) => console.error(...args);

/** A failure as the client sees it: one line with the runtime's error code. */
export function toResponseError(e: unknown): ResponseError<unknown> {
  const message = oneLine(e);
  if (e instanceof ResponseError) return e;
  if (e instanceof BusyError) return new ResponseError(RpcErrors.Busy, message);
  if (e instanceof NotLoadedError) return new ResponseError(RpcErrors.NotLoaded, message);
  if (e instanceof ModelError) return new ResponseError(RpcErrors.ModelInvalid, message, { file: e.file, fault: e.fault });
  if (e instanceof ContextOverflowError)
    return new ResponseError(RpcErrors.ContextOverflow, message, { promptTokens: e.promptTokens, contextLength: e.contextLength });
  if (e instanceof StaleCacheError) return new ResponseError<StaleCacheData>(RpcErrors.StaleCache, message, { asked: e.asked, held: e.held });
  return new ResponseError(ErrorCodes.InternalError, message);
}

function oneLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0].trim() || (e instanceof Error ? e.name : 'error');
}

function invalid(message: string): ResponseError<unknown> {
  return new ResponseError(ErrorCodes.InvalidParams, message);
}

function checkLoad(p: unknown): asserts p is RpcRequests['load'][0] {
  if (!p || typeof p !== 'object' || typeof (p as { modelDir?: unknown }).modelDir !== 'string')
    throw invalid('load: params must be an object with modelDir (a model folder path)');
}

function checkGenerate(p: unknown): asserts p is RpcRequests['generate'][0] {
  const g = p as { requestId?: unknown; prompt?: unknown } | null;
  if (!g || typeof g !== 'object' || typeof g.requestId !== 'string' || !g.requestId)
    throw invalid('generate: params must have a non-empty requestId string');
  const prompt = g.prompt as Record<string, unknown> | null;
  const kinds = prompt && typeof prompt === 'object' ? ['text', 'messages', 'ids'].filter((k) => k in prompt) : [];
  if (kinds.length !== 1) throw invalid('generate: prompt must have exactly one of text, messages or ids');
  // Asking to extend without a usable handle is the engine's to refuse (StaleCache); any other shape is malformed.
  const cache = (g as { cache?: unknown }).cache;
  if (cache !== undefined && cache !== 'reset' && cache !== 'extend' && (typeof cache !== 'object' || cache === null || !('extend' in cache)))
    throw invalid("generate: cache must be 'reset' or { extend: cacheId }");
}

export function startServer(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): { connection: MessageConnection; host: EngineHost } {
  let connection: MessageConnection;
  const notify = <K extends keyof RpcNotifications>(method: K, params: RpcNotifications[K]) => void connection.sendNotification(method, params);
  // Each log line reaches the host once: as a `log` notification (it keeps the level), not also
  // on stderr, which the host logs too. stderr carries what cannot go over JSON-RPC (stream
  // errors, crashes) and, with THINK_LENS_DEBUG=1, a copy of everything.
  const log = (level: LogLevel, message: string) => {
    if (debug) process.stderr.write(`[${level}] ${message}\n`);
    notify(Rpc.log, { level, message });
  };
  const host = new EngineHost({
    onToken: (n) => notify(Rpc.token, n),
    onProgress: (p) => notify(Rpc.progress, p),
    onMasks: (m) => notify(Rpc.masks, m),
    onLog: log,
  });
  connection = createMessageConnection(new StreamMessageReader(input), new StreamMessageWriter(output));

  /** Registers a typed handler whose failures become clean one-line JSON-RPC errors. */
  function handle<K extends keyof RpcRequests>(
    method: K,
    fn: (params: RpcRequests[K][0], token: CancellationToken) => Promise<RpcRequests[K][1]> | RpcRequests[K][1],
  ): void {
    connection.onRequest(method, async (params: RpcRequests[K][0], token: CancellationToken) => {
      try {
        return await fn(params, token);
      } catch (e) {
        const err = toResponseError(e);
        if (debug && e instanceof Error) process.stderr.write(`${method} failed: ${e.stack}\n`);
        else if (err.code === ErrorCodes.InternalError) log('error', `${method}: ${err.message}`);
        throw err;
      }
    });
  }

  handle(Rpc.load, (p) => {
    checkLoad(p);
    return host.load(p);
  });
  handle(Rpc.unload, () => host.unload());
  handle(Rpc.generate, (p, token) => {
    checkGenerate(p);
    // A JSON-RPC $/cancelRequest for the generate request works like `cancel` with its requestId.
    const sub = token.onCancellationRequested(() => host.cancel(p.requestId));
    return host.generate(p).finally(() => sub.dispose());
  });
  handle(Rpc.cancel, (p) => {
    if (!p || typeof p.requestId !== 'string') throw invalid('cancel: params must have requestId');
    return { cancelled: host.cancel(p.requestId).cancelled };
  });
  handle(Rpc.stats, () => host.stats());
  handle(Rpc.countTokens, async (p) => {
    if (!p || !Array.isArray(p.texts) || !p.texts.every((t) => typeof t === 'string')) throw invalid('countTokens: params must have texts (strings)');
    return { counts: await host.countTokens(p.texts) };
  });
  connection.onError(([err]) => process.stderr.write(`json-rpc: ${err.message}\n`));
  connection.listen();
  return { connection, host };
}

function main(): void {
  const { connection, host } = startServer(process.stdin, process.stdout);
  let closing = false;
  const shutdown = (why: string) => {
    if (closing) return;
    closing = true;
    if (debug) process.stderr.write(`runtime exiting: ${why}\n`);
    // Terminating the worker frees the model; nothing else holds the process open.
    void host.dispose().finally(() => process.exit(0));
  };
  connection.onClose(() => shutdown('connection closed'));
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('close', () => shutdown('stdin closed'));
  // A host that died leaves a broken stdout pipe: nothing left to serve.
  process.stdout.on('error', () => shutdown('stdout closed'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

if (require.main === module) main();
