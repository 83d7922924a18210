// One runtime child process and the JSON-RPC connection over its stdio. Typed by core/protocol.
// It knows nothing about restarts (src/supervisor.ts does that): when the child exits, every pending
// request fails with RuntimeExitedError and `onExit` fires once.

import { spawn, type ChildProcess } from 'node:child_process';
import * as rpc from 'vscode-jsonrpc/node';
import * as vscode from 'vscode';
import type { RpcNotifications, RpcRequests } from '../core/protocol/rpc';
import type { RuntimeLaunch } from './bootstrap';

/** The part of a LogOutputChannel the client writes to. */
export interface RuntimeLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (e.g. the executable is missing). */
  spawnError?: string;
  /** True when we asked it to stop (dispose); false for a crash. */
  expected: boolean;
}

export function describeExit(e: ExitInfo): string {
  if (e.spawnError) return `could not start: ${e.spawnError}`;
  if (e.signal) return `killed by ${e.signal}`;
  return `exit code ${e.code}`;
}

export class RuntimeExitedError extends Error {
  constructor(
    readonly method: string,
    readonly exit: ExitInfo,
  ) {
    super(`The ThinK Lens runtime stopped (${describeExit(exit)}) during '${method}'.`);
    this.name = 'RuntimeExitedError';
  }
}

/** Error object of a JSON-RPC error response, with the runtime's code (RpcErrors). */
export class RuntimeRequestError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RuntimeRequestError';
  }
}

type Params<K extends keyof RpcRequests> = RpcRequests[K][0];
type Result<K extends keyof RpcRequests> = RpcRequests[K][1];

/** What commands need of an engine: the runtime's requests (RuntimeClient, or src/remote/remoteEngine.ts). */
export interface EngineClient {
  request<K extends keyof RpcRequests>(method: K, params: Params<K>, token?: vscode.CancellationToken): Promise<Result<K>>;
}

export class RuntimeClient implements vscode.Disposable {
  private readonly child: ChildProcess;
  private readonly connection: rpc.MessageConnection;
  private exitInfo: ExitInfo | undefined;
  private stopping = false;
  private readonly exitEmitter = new vscode.EventEmitter<ExitInfo>();
  /** Fires once when the process is gone (crash, spawn failure or dispose). */
  readonly onExit = this.exitEmitter.event;
  private readonly exited: Promise<ExitInfo>;

  private constructor(
    readonly launch: RuntimeLaunch,
    private readonly log: RuntimeLog,
  ) {
    this.child = spawn(launch.command, launch.args, { cwd: launch.cwd, env: launch.env, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    this.connection = rpc.createMessageConnection(new rpc.StreamMessageReader(this.child.stdout!), new rpc.StreamMessageWriter(this.child.stdin!));
    // Writing to a dead child's stdin raises EPIPE on the stream; the exit handler reports the real cause.
    this.child.stdin!.on('error', () => undefined);
    this.connection.onError(([err]) => this.log.warn(`runtime connection: ${err.message}`));
    // The runtime's own log lines arrive as `log` notifications; stderr (below) carries whatever
    // else the process prints: crashes, stack traces, native library messages.
    this.connection.onNotification(rpcLogMethod, (p: RpcNotifications['log']) => {
      const line = `runtime: ${p.message}`;
      if (p.level === 'error') this.log.error(line);
      else if (p.level === 'warn') this.log.warn(line);
      else this.log.info(line);
    });
    this.connection.listen();

    let pending = '';
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) this.logStderr(l);
    });

    this.exited = new Promise((resolve) => {
      const finish = (info: Omit<ExitInfo, 'expected'>) => {
        if (this.exitInfo) return;
        if (pending.trim()) this.logStderr(pending);
        this.exitInfo = { ...info, expected: this.stopping };
        // Disposing the connection rejects every pending request; we translate those rejections.
        this.connection.dispose();
        this.exitEmitter.fire(this.exitInfo);
        resolve(this.exitInfo);
      };
      this.child.on('error', (e) => finish({ code: null, signal: null, spawnError: e.message }));
      this.child.on('exit', (code, signal) => finish({ code, signal }));
    });
  }

  /** stderr lines tagged `[warn] ...` / `[error] ...` (the runtime's debug mode) keep their level; anything else is info. */
  private logStderr(line: string): void {
    const m = /^\[(info|warn|error|debug)\] (.*)$/.exec(line);
    const text = `runtime stderr: ${m ? m[2] : line}`;
    if (m?.[1] === 'error') this.log.error(text);
    else if (m?.[1] === 'warn') this.log.warn(text);
    else this.log.info(text);
  }

  static start(launch: RuntimeLaunch, log: RuntimeLog): RuntimeClient {
    log.info(`starting ${launch.description}: ${launch.command} ${launch.args.join(' ')}`);
    return new RuntimeClient(launch, log);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get exit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  onNotification<K extends Exclude<keyof RpcNotifications, 'log'>>(method: K, handler: (params: RpcNotifications[K]) => void): vscode.Disposable {
    const d = this.connection.onNotification(method, handler);
    return new vscode.Disposable(() => d.dispose());
  }

  /**
   * Sends a request. A cancelled `token` reaches the runtime: for `generate` as a `cancel` request
   * naming its requestId (the runtime then finishes with finishReason 'cancelled', keeping what was
   * generated); for other methods as JSON-RPC `$/cancelRequest`, and the promise rejects with
   * vscode.CancellationError without waiting.
   */
  async request<K extends keyof RpcRequests>(method: K, params: Params<K>, token?: vscode.CancellationToken): Promise<Result<K>> {
    if (this.exitInfo) throw new RuntimeExitedError(method, this.exitInfo);
    if (this.stopping) throw new RuntimeExitedError(method, await this.exited);
    // No pid: spawn failed (its 'error' event is on its way); writing would hit a destroyed pipe.
    if (this.child.pid === undefined) throw new RuntimeExitedError(method, await this.exited);
    if (token?.isCancellationRequested) throw new vscode.CancellationError();

    const rpcSource = new rpc.CancellationTokenSource();
    const subscriptions: vscode.Disposable[] = [];
    let cancelledLocally: Promise<never> | undefined;
    if (token) {
      if (method === 'generate') {
        const requestId = (params as Params<'generate'>).requestId;
        subscriptions.push(
          token.onCancellationRequested(() => {
            this.request('cancel', { requestId }).catch((e) => this.log.warn(`cancel ${requestId}: ${(e as Error).message}`));
          }),
        );
      } else {
        cancelledLocally = new Promise<never>((_, reject) => {
          subscriptions.push(
            token.onCancellationRequested(() => {
              // Tells the runtime ($/cancelRequest) unless the process is already going away.
              if (!this.stopping && !this.exitInfo) rpcSource.cancel();
              reject(new vscode.CancellationError());
            }),
          );
        });
      }
    }
    const sent = (params === undefined
      ? this.connection.sendRequest<Result<K>>(method, rpcSource.token)
      : this.connection.sendRequest<Result<K>>(method, params, rpcSource.token)) as Promise<Result<K>>;
    const translated = sent.catch(async (e: unknown) => {
      // We dispose the connection only when the child has exited, which rejects pending requests
      // with PendingResponseRejected; a write to a closed pipe gives a ConnectionError. Both mean
      // "the process is gone": report how it ended.
      const gone =
        this.exitInfo !== undefined ||
        e instanceof rpc.ConnectionError ||
        (e instanceof rpc.ResponseError && e.code === rpc.ErrorCodes.PendingResponseRejected);
      if (gone) throw new RuntimeExitedError(method, await this.exited);
      if (e instanceof rpc.ResponseError) throw new RuntimeRequestError(method, e.code, e.message, e.data);
      throw e;
    });
    try {
      return await (cancelledLocally ? Promise.race([translated, cancelledLocally]) : translated);
    } finally {
      for (const s of subscriptions) s.dispose();
      rpcSource.dispose();
    }
  }

  /** Stops the process: closes stdin (the runtime exits on EOF), then SIGTERM, then SIGKILL. */
  async dispose(): Promise<void> {
    if (this.exitInfo) return;
    this.stopping = true;
    // Writes already handed to the connection (e.g. a $/cancelRequest) go out on a later tick;
    // let them reach the pipe before ending it, or they fail with "write after end".
    await new Promise((r) => setImmediate(r));
    this.connection.dispose();
    this.child.stdin?.end();
    const term = setTimeout(() => this.child.kill('SIGTERM'), 1000);
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(term);
    clearTimeout(kill);
    this.exitEmitter.dispose();
  }

  /** For tests and "the runtime hangs" situations: kill now. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }
}

const rpcLogMethod = 'log' satisfies keyof RpcNotifications;

/** What a failed request tells the user: a crashed runtime is being restarted, so asking again works. */
export function failureMessage(e: unknown): string {
  if (e instanceof RuntimeExitedError) return `${e.message} It is being restarted; ask again.`;
  return e instanceof Error ? e.message : String(e);
}
