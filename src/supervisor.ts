// Keeps one runtime process alive. A crash (any exit we did not ask for) restarts it at once, at
// most `maxRestarts` times within `windowMs`: the next crash inside that window means something is
// persistently wrong (bad model, out of memory), so restarts stop and the user gets an error that
// offers "Restart Runtime". A user restart forgets the crash history. The clock is injectable so
// tests can place crashes in time without waiting.

import * as vscode from 'vscode';
import type { RuntimeState } from '../core/protocol/webview';
import type { RuntimeLaunch } from './bootstrap';
import { RuntimeClient, describeExit, type ExitInfo, type RuntimeLog } from './runtimeClient';

export interface Clock {
  now(): number;
}

export const RESTART_ACTION = 'Restart Runtime';
export const SHOW_LOG_ACTION = 'Show Log';

export interface SupervisorOptions {
  /** Called at every start, so a newly built runtime or changed setting is picked up. */
  launch: () => RuntimeLaunch;
  log: RuntimeLog;
  showLog?: () => void;
  clock?: Clock;
  /** Automatic restarts allowed within `windowMs` (default 3). */
  maxRestarts?: number;
  /** Default 3 minutes. */
  windowMs?: number;
}

/** Thrown by `client()` once automatic restarts have stopped, until the user restarts. */
export class RuntimeFailedError extends Error {
  constructor(detail: string) {
    super(`The ThinK Lens runtime is stopped after repeated crashes (${detail}). Run "ThinK Lens: Restart Runtime" to try again.`);
    this.name = 'RuntimeFailedError';
  }
}

type SupervisorState = Exclude<RuntimeState, 'busy'>;

export class Supervisor implements vscode.Disposable {
  private readonly clock: Clock;
  private readonly maxRestarts: number;
  private readonly windowMs: number;
  private crashes: number[] = [];
  private currentClient: RuntimeClient | undefined;
  private starting: Promise<RuntimeClient> | undefined;
  private stateValue: SupervisorState = 'stopped';
  private lastCrash = '';
  private disposed = false;
  private readonly stateEmitter = new vscode.EventEmitter<SupervisorState>();
  readonly onDidChangeState = this.stateEmitter.event;
  private readonly startEmitter = new vscode.EventEmitter<RuntimeClient>();
  /** Fires with each new process once it answered its first request (attach notification handlers here). */
  readonly onDidStart = this.startEmitter.event;
  private readonly crashEmitter = new vscode.EventEmitter<{ exit: ExitInfo; willRestart: boolean }>();
  readonly onDidCrash = this.crashEmitter.event;

  constructor(private readonly options: SupervisorOptions) {
    this.clock = options.clock ?? { now: () => Date.now() };
    this.maxRestarts = options.maxRestarts ?? 3;
    this.windowMs = options.windowMs ?? 3 * 60_000;
  }

  get state(): SupervisorState {
    return this.stateValue;
  }

  /** The live process, if any (not waiting for a start). */
  get current(): RuntimeClient | undefined {
    return this.currentClient && !this.currentClient.exit ? this.currentClient : undefined;
  }

  private setState(s: SupervisorState): void {
    if (s === this.stateValue) return;
    this.stateValue = s;
    this.stateEmitter.fire(s);
  }

  /** The running runtime, starting it if needed. Rejects when restarts have stopped. */
  client(): Promise<RuntimeClient> {
    if (this.disposed) return Promise.reject(new Error('ThinK Lens is shutting down.'));
    if (this.stateValue === 'failed') return Promise.reject(new RuntimeFailedError(this.lastCrash));
    const live = this.current;
    if (live && this.stateValue === 'ready') return Promise.resolve(live);
    return this.starting ?? this.start();
  }

  private start(): Promise<RuntimeClient> {
    this.setState('starting');
    const attempt = (async () => {
      const client = RuntimeClient.start(this.options.launch(), this.options.log);
      this.currentClient = client;
      client.onExit((exit) => this.onExit(client, exit));
      // The first answered request proves the process is up and speaking the protocol.
      await client.request('stats', undefined);
      if (this.currentClient !== client || this.disposed) throw new Error('The ThinK Lens runtime was replaced while starting.');
      this.setState('ready');
      this.startEmitter.fire(client);
      return client;
    })();
    this.starting = attempt;
    const clear = () => {
      if (this.starting === attempt) this.starting = undefined;
    };
    attempt.then(clear, clear);
    return attempt;
  }

  private onExit(client: RuntimeClient, exit: ExitInfo): void {
    if (exit.expected || this.disposed || client !== this.currentClient) return;
    const now = this.clock.now();
    this.crashes = this.crashes.filter((t) => now - t < this.windowMs);
    this.crashes.push(now);
    this.lastCrash = describeExit(exit);
    const willRestart = this.crashes.length <= this.maxRestarts;
    this.crashEmitter.fire({ exit, willRestart });
    if (willRestart) {
      this.options.log.warn(`runtime crashed (${this.lastCrash}); restarting (crash ${this.crashes.length} of at most ${this.maxRestarts + 1} within ${this.windowMs / 60_000} min)`);
      this.setState('crashed');
      // Failures of this start show up as another exit (and count), or in the next client() call.
      this.start().catch((e) => this.options.log.warn(`runtime restart: ${(e as Error).message}`));
      return;
    }
    const minutes = this.windowMs / 60_000;
    const message = `ThinK Lens: the runtime crashed ${this.crashes.length} times within ${minutes} minute${minutes === 1 ? '' : 's'} (last: ${this.lastCrash}). Automatic restarts are stopped; see the ThinK Lens log for the cause.`;
    this.options.log.error(message);
    this.setState('failed');
    void vscode.window.showErrorMessage(message, RESTART_ACTION, SHOW_LOG_ACTION).then((choice) => {
      if (choice === RESTART_ACTION) this.restart().catch((e) => this.options.log.error(`restart: ${(e as Error).message}`));
      else if (choice === SHOW_LOG_ACTION) this.options.showLog?.();
    });
  }

  /** User-requested restart: forgets past crashes, stops the current process, starts a new one. */
  async restart(): Promise<RuntimeClient> {
    if (this.disposed) throw new Error('ThinK Lens is shutting down.');
    this.crashes = [];
    this.lastCrash = '';
    const old = this.currentClient;
    this.currentClient = undefined;
    this.starting = undefined;
    await old?.dispose();
    return this.start();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const c = this.currentClient;
    this.currentClient = undefined;
    await c?.dispose();
    this.setState('stopped');
    this.stateEmitter.dispose();
    this.startEmitter.dispose();
    this.crashEmitter.dispose();
  }
}
