// The engine as seen from the thread that serves requests: spawns runtime/host/engineWorker on a
// worker thread, forwards requests to it as messages and its events (token, progress, masks, log)
// to the caller, and keeps one generation at a time. Cancellation is a flag in shared memory that
// the engine polls between prefill chunks and decode steps, so it takes effect while the worker's
// thread is blocked inside onnxruntime. `stats` is answered here from the latest progress while
// the worker is busy, and from the engine's own snapshot when it is idle.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { GenerateParams, GenerateResult, LoadParams, LoadResult, MasksNotification, ProgressNotification, RuntimeStats, ThinkMasks, TokenNotification } from '../../core/protocol/rpc';
import { Control, deserializeError, type HostMessage, type LogLevel, type Snapshot, type WorkerMessage } from './engineMessages';

export type { LogLevel };

export interface EngineHostEvents {
  onToken?(n: TokenNotification): void;
  onProgress?(p: ProgressNotification): void;
  onMasks?(m: MasksNotification): void;
  onLog?(level: LogLevel, message: string): void;
}

/** A request that needs the engine idle arrived while it loads or generates. */
export class BusyError extends Error {
  constructor(what: string) {
    super(`the runtime is busy (${what}); cancel it or wait for it to finish`);
    this.name = 'BusyError';
  }
}

export class NotLoadedError extends Error {
  constructor() {
    super('no model is loaded; load a model folder first');
    this.name = 'NotLoadedError';
  }
}

/** The worker thread died (a crash in native code or an uncaught error there). */
export class WorkerExitedError extends Error {
  constructor(why: string) {
    super(`the engine worker stopped (${why})`);
    this.name = 'WorkerExitedError';
  }
}

export interface CancelOutcome {
  cancelled: boolean;
  /** Tokens the generation had produced when the flag was set (it stops within one more step). */
  generatedAtCancel: number;
  /** Prompt tokens it had prefilled when the flag was set (it stops within one more chunk). */
  processedAtCancel: number;
}

/** A message to the worker before it gets its id (Omit distributed over the union). */
type Request = HostMessage extends infer M ? (M extends HostMessage ? Omit<M, 'id'> : never) : never;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/**
 * How to start the worker: the bundle's dist/engineWorker.js as it is, or, in a source checkout,
 * runtime/host/engineWorker.ts through tsx's CommonJS hook. (`execArgv: ['--import', 'tsx']` is not
 * enough on Node 20: a worker's entry module does not see loader hooks registered that way.)
 */
export function workerEntry(dir = __dirname): { code: string; eval: boolean } {
  const bundled = join(dir, 'engineWorker.js');
  if (existsSync(bundled)) return { code: bundled, eval: false };
  const source = join(dir, 'engineWorker.ts');
  if (!existsSync(source)) throw new Error(`engine worker not found: neither ${bundled} nor ${source} exists`);
  let hook: string;
  try {
    hook = require.resolve('tsx/cjs');
  } catch {
    throw new Error(`cannot run ${source}: tsx is not installed (run npm install, or build dist/ with npm run build)`);
  }
  return { code: `require(${JSON.stringify(hook)}); require(${JSON.stringify(source)});`, eval: true };
}

export class EngineHost {
  private worker: Worker | null = null;
  private readonly control = new Int32Array(new SharedArrayBuffer(Control.size * Int32Array.BYTES_PER_ELEMENT));
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private state: 'idle' | 'loading' | 'generating' | 'unloading' = 'idle';
  private current: { params: GenerateParams; done: Promise<unknown> } | null = null;
  private loadResult: LoadResult | null = null;
  private lastProgress: ProgressNotification | null = null;
  private lastMasks: ThinkMasks | null = null;
  private snapshotCache: Snapshot = null;
  private disposed = false;

  constructor(private readonly events: EngineHostEvents = {}) {}

  get busy(): boolean {
    return this.state !== 'idle';
  }

  async load(params: LoadParams): Promise<LoadResult> {
    this.requireIdle();
    this.state = 'loading';
    try {
      // Loading replaces the model: what was cached about the old one no longer holds.
      this.forgetModel();
      this.loadResult = (await this.call({ type: 'load', params })) as LoadResult;
      return this.loadResult;
    } finally {
      this.state = 'idle';
    }
  }

  /** Unloads the model; a running generation is cancelled first. */
  async unload(): Promise<void> {
    if (this.state === 'generating' && this.current) {
      this.cancel(this.current.params.requestId);
      await this.current.done.catch(() => {});
    }
    this.requireIdle();
    if (!this.worker) return;
    this.state = 'unloading';
    try {
      await this.call({ type: 'unload' });
    } finally {
      this.forgetModel();
      this.state = 'idle';
    }
  }

  async generate(params: GenerateParams): Promise<GenerateResult> {
    this.requireIdle();
    if (!this.loadResult) throw new NotLoadedError();
    this.state = 'generating';
    // Reset before posting, so a cancel that arrives right after the request is never lost.
    Atomics.store(this.control, Control.cancel, 0);
    Atomics.store(this.control, Control.generated, 0);
    Atomics.store(this.control, Control.processed, 0);
    this.lastProgress = null;
    const done = this.call({ type: 'generate', params });
    this.current = { params, done };
    try {
      return (await done) as GenerateResult;
    } finally {
      this.current = null;
      this.snapshotCache = null;
      this.state = 'idle';
    }
  }

  /** Stops the generation named `requestId` (any, when omitted); returns at once. */
  cancel(requestId?: string): CancelOutcome {
    const running = this.current && (requestId === undefined || this.current.params.requestId === requestId);
    if (running) Atomics.store(this.control, Control.cancel, 1);
    return {
      cancelled: Boolean(running),
      generatedAtCancel: Atomics.load(this.control, Control.generated),
      processedAtCancel: Atomics.load(this.control, Control.processed),
    };
  }

  async countTokens(texts: string[]): Promise<number[]> {
    if (!this.loadResult) throw new NotLoadedError();
    // Queued behind a running generation on the worker; answered when it yields or ends.
    return (await this.call({ type: 'countTokens', texts })) as number[];
  }

  /** Never waits for a busy engine: while it works, the latest progress and masks stand in. */
  async stats(): Promise<RuntimeStats> {
    const rssBytes = process.memoryUsage.rss();
    const loaded = this.loadResult;
    if (!loaded) return { loaded: false, busy: this.busy, rssBytes };
    if (this.busy) {
      // A follow-up keeps the settings its cache was compressed with; a fresh prompt takes the request's.
      const extending = typeof this.current?.params.cache === 'object';
      const think = extending ? (this.snapshotCache?.think ?? loaded.think) : { ...loaded.think, ...this.current?.params.think };
      return {
        loaded: true,
        model: loaded.model,
        device: loaded.device,
        think,
        busy: true,
        cache: this.lastProgress?.cache ?? this.snapshotCache?.cache,
        masks: this.lastMasks ?? this.snapshotCache?.masks,
        rssBytes,
      };
    }
    this.snapshotCache ??= (await this.call({ type: 'snapshot' })) as Snapshot;
    return { loaded: true, busy: this.busy, ...this.snapshotCache, rssBytes };
  }

  /** Stops the worker thread (the model goes with it). */
  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.current) this.cancel();
    const w = this.worker;
    this.worker = null;
    this.loadResult = null;
    if (w) await w.terminate();
  }

  /** Drops the model's result and everything cached about it. */
  private forgetModel(): void {
    this.loadResult = null;
    this.snapshotCache = null;
    this.lastProgress = null;
    this.lastMasks = null;
  }

  private requireIdle(): void {
    if (this.disposed) throw new Error('the engine host has been disposed');
    if (this.state !== 'idle') throw new BusyError(this.state === 'generating' ? `generating ${this.current?.params.requestId}` : this.state);
  }

  private call(msg: Request): Promise<unknown> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ ...msg, id } as HostMessage);
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const entry = workerEntry();
    // stdout/stderr: true, then piped to our stderr: whatever the engine or a library prints must
    // never reach process.stdout, which carries JSON-RPC in the runtime process.
    const worker = new Worker(entry.code, {
      eval: entry.eval,
      workerData: { control: this.control.buffer },
      // Not the parent's flags (test runner options and the like): the worker needs none.
      execArgv: [],
      stdout: true,
      stderr: true,
    });
    worker.stdout.pipe(process.stderr, { end: false });
    worker.stderr.pipe(process.stderr, { end: false });
    worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    worker.on('error', (e) => this.onExit(worker, e.message.split('\n')[0]));
    worker.on('exit', (code) => this.onExit(worker, `exit code ${code}`));
    this.worker = worker;
    return worker;
  }

  private onMessage(m: WorkerMessage): void {
    switch (m.type) {
      case 'result':
      case 'error': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.type === 'result') p.resolve(m.value);
        else p.reject(deserializeError(m.error));
        return;
      }
      case 'token':
        this.events.onToken?.(m.n);
        return;
      case 'progress':
        this.lastProgress = m.p;
        this.events.onProgress?.(m.p);
        return;
      case 'masks':
        this.lastMasks = m.m.masks;
        this.events.onMasks?.(m.m);
        return;
      case 'log':
        this.events.onLog?.(m.level, m.message);
        return;
    }
  }

  private onExit(worker: Worker, why: string): void {
    if (this.worker !== worker) return; // an old worker, already replaced or disposed
    this.worker = null;
    this.forgetModel();
    const err = new WorkerExitedError(why);
    // With requests pending, their callers hear about it; otherwise only the log can tell.
    if (!this.disposed && this.pending.size === 0) this.events.onLog?.('error', `${err.message}; the model must be loaded again`);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
