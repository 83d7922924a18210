// The extension's one long-lived object: settings, the log, the supervised runtime, which model
// is loaded in it, the live cache figures, and the status bar. Commands get a Ctx and nothing else.

import * as path from 'node:path';
import * as vscode from 'vscode';
import { applyInspectorMessage, EMPTY_INSPECTOR_STATE, type InspectorState } from '../core/inspectorState';
import type { CacheStats, LoadResult, MasksNotification, ProgressNotification, TokenNotification } from '../core/protocol/rpc';
import type { InspectorInMessage, RuntimeState } from '../core/protocol/webview';
import { findLocalModels, type LocalModelScan } from '../core/localModels';
import { findRuntime, type RuntimeLaunch } from './bootstrap';
import { modelLabel, readConfig, resolveModelSource, SECTION, type ModelSource, type ThinkLensConfig } from './config';
import { checkModelFolder, describeProblems } from './modelFolder';
import type { EngineClient, RuntimeClient } from './runtimeClient';
import { RemoteEngine, REMOTE_NOTE } from './remote/remoteEngine';
import type { RemoteTimeouts } from './remote/openaiClient';
import { Supervisor, type Clock } from './supervisor';
import { StatusBar } from './statusBar';

/** Runs "ThinK Lens: Select Model" (the picker: Hub download, folder, GGUF file, models found locally). */
export const SELECT_MODEL_ACTION = 'Select Model';
export const DOWNLOAD_MODEL_ACTION = 'Download Model';
const MANAGE_TRUST_ACTION = 'Manage Workspace Trust';

/** The command behind each way of getting a model that a NoModelError offers. */
export const MODEL_ACTION_COMMANDS: Record<string, string> = {
  [SELECT_MODEL_ACTION]: 'thinkLens.selectModel',
  [DOWNLOAD_MODEL_ACTION]: 'thinkLens.downloadModel',
};

/** No usable model is configured; the message says how to get one. */
export class NoModelError extends Error {
  constructor(
    message: string,
    readonly actions: string[],
  ) {
    super(message);
    this.name = 'NoModelError';
  }
}

export interface CtxDeps {
  /** How to start the runtime (default: src/bootstrap.ts's choice for this extension folder). */
  launch?: () => RuntimeLaunch;
  clock?: Clock;
  /** Where Select Model finds the GGUFs Ollama and LM Studio downloaded (default: core/localModels.ts in this user's home). */
  findLocalModels?: () => LocalModelScan;
  /** Timeouts of a remote engine (tests make them short). */
  remoteTimeouts?: Partial<RemoteTimeouts>;
}

/** Where the remote engine's API key lives in VS Code's SecretStorage. */
export const REMOTE_API_KEY_SECRET = 'thinkLens.remoteApiKey';

/** Exact token counts from the loaded model's tokenizer (the runtime's, or the remote server's). */
export function tokenCounter(loaded: LoadedModel, token?: vscode.CancellationToken): (texts: string[]) => Promise<number[]> {
  return async (texts) => (await loaded.client.request('countTokens', { texts }, token)).counts;
}

export interface LoadedModel {
  /** The local runtime, or the remote engine (thinkLens.engine) answering the same requests. */
  client: EngineClient;
  load: LoadResult;
  /** Set when the engine is a remote server. */
  remote?: RemoteEngine;
}

export class Ctx implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  readonly supervisor: Supervisor;
  readonly statusBar: StatusBar;
  config: ThinkLensConfig;
  /** Latest cache figures (from progress notifications and generate results); cleared on restart. */
  lastCache: CacheStats | undefined;
  /** The latest progress and masks, kept as the Inspector keeps them: what a newly opened Inspector shows first. */
  inspector: InspectorState = EMPTY_INSPECTOR_STATE;
  private loaded: (LoadedModel & { key: string }) | undefined;
  private loading: Promise<LoadedModel> | undefined;
  private loadingKey = '';
  private busyCount = 0;
  /** The remote engine in use (thinkLens.engine is a URL), with what it was made from. */
  private remote: { engine: RemoteEngine; key: string; loaded?: Promise<LoadedModel> } | undefined;
  private readonly remoteTimeouts: Partial<RemoteTimeouts> | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly tokenEmitter = new vscode.EventEmitter<TokenNotification>();
  private readonly progressEmitter = new vscode.EventEmitter<ProgressNotification>();
  private readonly masksEmitter = new vscode.EventEmitter<MasksNotification>();
  private readonly runtimeEmitter = new vscode.EventEmitter<void>();
  /** The GGUF models other local tools downloaded (Ollama, LM Studio), and the entries skipped, each with why. */
  readonly findLocalModels: () => LocalModelScan;
  /** Runtime notifications, from whichever process is current. */
  readonly onToken = this.tokenEmitter.event;
  readonly onProgress = this.progressEmitter.event;
  readonly onMasks = this.masksEmitter.event;
  /** Runtime state or loaded model changed (the Inspector re-posts its `state`). */
  readonly onDidChangeRuntime = this.runtimeEmitter.event;

  constructor(
    readonly extension: vscode.ExtensionContext,
    deps: CtxDeps = {},
  ) {
    this.log = vscode.window.createOutputChannel('ThinK Lens', { log: true });
    this.findLocalModels = deps.findLocalModels ?? (() => findLocalModels());
    this.remoteTimeouts = deps.remoteTimeouts;
    this.config = readConfig();
    this.reportConfigProblems();
    const prefer = extension.extensionMode === vscode.ExtensionMode.Production ? 'bundled' : 'source';
    this.supervisor = new Supervisor({
      launch: deps.launch ?? (() => findRuntime(extension.extensionPath, { prefer })),
      log: this.log,
      showLog: () => this.log.show(),
      clock: deps.clock,
    });
    this.statusBar = new StatusBar();
    this.disposables.push(
      this.supervisor.onDidChangeState(() => this.changed()),
      this.supervisor.onDidCrash(() => {
        // The process and its cache are gone; the next command loads the model again.
        this.loaded = undefined;
        this.lastCache = undefined;
        this.inspector = EMPTY_INSPECTOR_STATE;
      }),
      this.supervisor.onDidStart((client) => this.attach(client)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration(SECTION)) return;
        this.config = readConfig();
        this.reportConfigProblems();
        this.changed();
      }),
      // A new or deleted API key: the next request connects with it.
      extension.secrets.onDidChange((e) => {
        if (e.key === REMOTE_API_KEY_SECRET) this.remote = undefined;
      }),
    );
    if (this.config.engine !== 'local') this.log.info(`engine: remote: ${this.config.engine.url}`);
    this.changed();
  }

  get globalStorage(): string {
    return this.extension.globalStorageUri.fsPath;
  }

  modelSource(): ModelSource {
    return resolveModelSource(this.config.model, this.globalStorage, vscode.workspace.workspaceFolders?.[0]?.uri.fsPath);
  }

  get runtimeState(): RuntimeState {
    if (this.config.engine !== 'local') return this.busyCount > 0 ? 'busy' : 'ready';
    const s = this.supervisor.state;
    return s === 'ready' && this.busyCount > 0 ? 'busy' : s;
  }

  get loadedModel(): LoadResult | undefined {
    return this.config.engine !== 'local' ? undefined : this.loaded?.load;
  }

  /** The remote engine when thinkLens.engine is a URL and it has been used. */
  get remoteEngine(): RemoteEngine | undefined {
    return this.config.engine !== 'local' ? this.remote?.engine : undefined;
  }

  private reportConfigProblems(): void {
    if (!this.config.problems.length) return;
    for (const p of this.config.problems) this.log.warn(`settings: ${p}`);
    void vscode.window.showWarningMessage(`ThinK Lens settings: ${this.config.problems.join(' ')}`);
  }

  private attach(client: RuntimeClient): void {
    const subs = [
      client.onNotification('token', (p) => this.tokenEmitter.fire(p)),
      client.onNotification('progress', (p) => {
        this.lastCache = p.cache;
        this.inspector = applyInspectorMessage(this.inspector, { type: 'progress', progress: p });
        this.progressEmitter.fire(p);
        this.changed();
      }),
      client.onNotification('masks', (p) => {
        this.inspector = applyInspectorMessage(this.inspector, { type: 'masks', masks: p.masks });
        this.masksEmitter.fire(p);
      }),
    ];
    client.onExit(() => subs.forEach((s) => s.dispose()));
  }

  private changed(): void {
    const src = this.modelSource();
    const remote = this.config.engine !== 'local' ? this.config.engine.url : undefined;
    this.statusBar.update({
      state: this.runtimeState,
      hasModel: remote !== undefined || src.kind !== 'none',
      remote,
      modelName: remote ? this.remote?.engine.model : modelLabel(src),
      cache: this.lastCache,
      memoryBudgetMb: this.config.memoryBudgetMb,
    });
    this.runtimeEmitter.fire();
  }

  /** Records figures from a finished generation (the last progress may precede the final token). */
  noteCache(cache: CacheStats): void {
    this.lastCache = cache;
    this.changed();
  }

  /** Runs `fn` with the status bar showing "busy". */
  async busy<T>(fn: () => Promise<T>): Promise<T> {
    this.busyCount++;
    this.changed();
    try {
      return await fn();
    } finally {
      this.busyCount--;
      this.changed();
    }
  }

  /** What the Cache Inspector shows as its header. */
  inspectorState(): Extract<InspectorInMessage, { type: 'state' }> {
    if (this.config.engine !== 'local') {
      const engine = this.remoteEngine;
      const remote = engine?.info() ?? { url: this.config.engine.url, note: `Remote engine ${this.config.engine.url}: ${REMOTE_NOTE}.` };
      return { type: 'state', state: this.runtimeState, memoryBudgetMb: this.config.memoryBudgetMb, remote };
    }
    const l = this.loaded?.load;
    return { type: 'state', state: this.runtimeState, model: l?.model, device: l?.device, think: l?.think, memoryBudgetMb: this.config.memoryBudgetMb };
  }

  /** The configured model's folder or GGUF file, checked; throws NoModelError or a precise folder/file error. */
  async modelDir(): Promise<string> {
    const src = this.modelSource();
    if (src.kind === 'none') {
      throw new NoModelError(
        'ThinK Lens has no model yet. Select one: a GGUF that Ollama or LM Studio already downloaded, a .gguf file, or a local Hugging Face model folder (config.json, *.safetensors, tokenizer.json); or download a small model from the Hub.',
        [SELECT_MODEL_ACTION, DOWNLOAD_MODEL_ACTION],
      );
    }
    const check = await checkModelFolder(src.dir);
    if (!check.ok) {
      if (src.kind === 'hub' && check.problems.some((p) => /does not exist|config\.json is missing/.test(p))) {
        throw new NoModelError(`The model ${src.repo} (thinkLens.model) has not been downloaded yet.`, [DOWNLOAD_MODEL_ACTION, SELECT_MODEL_ACTION]);
      }
      throw new NoModelError(describeProblems(check), [SELECT_MODEL_ACTION]);
    }
    return src.dir;
  }

  /**
   * The runtime with the configured model loaded (starting the runtime and loading as needed).
   * A load is shared by concurrent callers; a changed model, device, weights or ThinK setting reloads.
   */
  async ensureModel(token?: vscode.CancellationToken): Promise<LoadedModel> {
    if (this.config.engine !== 'local') return this.ensureRemote(this.config.engine.url, token);
    const dir = await this.modelDir();
    const think = { ...this.config.think };
    const { device, quantize, cachePrecision } = this.config;
    const key = JSON.stringify({ dir, device, quantize, cachePrecision, think });
    const client = await this.supervisor.client();
    if (this.loaded && this.loaded.client === client && !client.exit && this.loaded.key === key) return this.loaded;
    if (this.loading && this.loadingKey !== key) {
      // Settings changed while another load runs: let it finish, then load what is asked now.
      await this.loading.catch(() => undefined);
      return this.ensureModel(token);
    }
    if (!this.loading) {
      this.loadingKey = key;
      this.loading = (async () => {
        this.log.info(`loading ${dir} on ${device}${quantize ? ` with ${quantize} weights` : ''} (prune ratio ${think.ratio}, window ${think.window}, recent ${think.recent})`);
        const load = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Window, title: `ThinK Lens: loading ${path.basename(dir)}` },
          () => this.busy(() => client.request('load', { modelDir: dir, device, quantize, cachePrecision, think }, token)),
        );
        if (load.fallback) {
          this.log.warn(`device: ${load.fallback}`);
          void vscode.window.showWarningMessage(`ThinK Lens: ${load.fallback}`);
        }
        this.log.info(`loaded ${load.model.architecture}, ${load.model.layers} layers, ${load.model.kvHeads} KV heads, context ${load.model.contextLength}, ${load.model.quantize ?? 'float32'} weights, a ${load.model.cachePrecision} cache, on ${load.device} in ${Math.round(load.loadMs)} ms`);
        this.loaded = { client, load, key };
        this.lastCache = undefined;
        this.changed();
        return this.loaded;
      })();
      const done = () => (this.loading = undefined);
      this.loading.then(done, done);
    }
    return this.loading;
  }

  /**
   * The remote engine (thinkLens.engine is a URL), connected: GET /models names the model and what
   * is known of it. Made again when the URL, the model setting or the API key changes.
   */
  private async ensureRemote(url: string, token?: vscode.CancellationToken): Promise<LoadedModel> {
    const apiKey = (await this.extension.secrets.get(REMOTE_API_KEY_SECRET)) || undefined;
    const key = JSON.stringify({ url, model: this.config.remoteModel, apiKey });
    if (!this.remote || this.remote.key !== key) {
      const engine = new RemoteEngine({
        url,
        apiKey,
        model: this.config.remoteModel || undefined,
        timeouts: this.remoteTimeouts,
        log: this.log,
        onToken: (n) => this.tokenEmitter.fire(n),
        onReport: () => this.changed(),
      });
      this.remote = { engine, key };
      this.log.info(`remote: ${engine.url}${apiKey ? ' (with an API key)' : ''}`);
    }
    const r = this.remote;
    r.loaded ??= this.busy(() => r.engine.request('load', {} as never, token)).then((load) => {
      this.changed();
      return { client: r.engine, load, remote: r.engine };
    });
    try {
      return await r.loaded;
    } catch (e) {
      // Not kept: the next command tries the server again.
      if (this.remote === r) r.loaded = undefined;
      throw e;
    }
  }

  /**
   * Restricted Mode: commands that read workspace files explain why they do nothing. Returns
   * whether the workspace is trusted.
   */
  async requireTrust(command: string): Promise<boolean> {
    if (vscode.workspace.isTrusted) return true;
    this.log.info(`${command}: not run, the workspace is in Restricted Mode`);
    const choice = await vscode.window.showInformationMessage(
      `ThinK Lens: ${command} reads this workspace's files and feeds them to a local model, so it is disabled in Restricted Mode. Trust the workspace to use it.`,
      MANAGE_TRUST_ACTION,
    );
    if (choice === MANAGE_TRUST_ACTION) await vscode.commands.executeCommand('workbench.trust.manage');
    return false;
  }

  /** Shows a NoModelError with its actions (run as the matching commands). */
  async offerModel(e: NoModelError): Promise<void> {
    const choice = await vscode.window.showInformationMessage(e.message, ...e.actions);
    const command = choice && MODEL_ACTION_COMMANDS[choice];
    if (command) await vscode.commands.executeCommand(command);
  }

  /** One place for command failures: model problems offer their fix, the rest go to log + error. */
  async reportError(what: string, e: unknown): Promise<void> {
    if (e instanceof vscode.CancellationError) return;
    if (e instanceof NoModelError) return this.offerModel(e);
    const message = e instanceof Error ? e.message : String(e);
    this.log.error(`${what}: ${message}`);
    const choice = await vscode.window.showErrorMessage(`ThinK Lens: ${what} failed: ${message}`, 'Show Log');
    if (choice === 'Show Log') this.log.show();
  }

  async dispose(): Promise<void> {
    for (const d of this.disposables.splice(0)) d.dispose();
    await this.supervisor.dispose();
    this.statusBar.dispose();
    this.tokenEmitter.dispose();
    this.progressEmitter.dispose();
    this.masksEmitter.dispose();
    this.runtimeEmitter.dispose();
    this.log.dispose();
  }
}
