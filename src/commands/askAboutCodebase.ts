// "ThinK Lens: Ask About Codebase": gathers as much of the workspace as the memory budget allows
// (ranked against the question and packed with paths and line numbers: src/workspaceContext.ts),
// and streams the answer into the Answer panel, with Stop and path:line citations.
//
// Follow-ups asked in the panel reuse the runtime's cache when the packed context is unchanged
// (src/contextFingerprint.ts): the runtime appends only the new question (`cache: 'extend'`), keeping
// the pruned prefix with the channels the first question's observation window chose. Anything that
// replaced the cache in between (another request, a restart, a reload, a changed file) means a
// fresh context and `cache: 'reset'`.

import * as path from 'node:path';
import * as vscode from 'vscode';
import type { GenerateParams, LoadResult } from '../../core/protocol/rpc';
import type { ContextSummary } from '../../core/protocol/webview';
import { RpcErrors } from '../../core/protocol/rpc';
import type { Ctx, LoadedModel } from '../ctx';
import type { ThinkLensConfig } from '../config';
import { AnswerPanel } from '../panels/answerPanel';
import { nextTurn, streamGenerate } from '../answerStream';
import { stampFiles, unchangedSince, type FileStamp } from '../contextFingerprint';
import { RuntimeExitedError, RuntimeRequestError } from '../runtimeClient';
import { gatherWorkspaceContext } from '../workspaceContext';
import { tokenBudget } from '../../core/context/budget';
import { firstTurnMessages, overheadText, TEMPLATE_OVERHEAD_TOKENS } from '../../core/context/prompt';

/** The workspace context for one question (built by src/workspaceContext.ts). */
export interface AskContext {
  /** The packed files: headers with paths, numbered lines. */
  prompt: string;
  summary: ContextSummary;
  /** Absolute paths of the files in `prompt`. */
  files: string[];
}

export interface GatherRequest {
  question: string;
  load: LoadResult;
  config: ThinkLensConfig;
  /** Exact token counts from the loaded model's tokenizer. */
  count: (texts: string[]) => Promise<number[]>;
  token: vscode.CancellationToken;
}

/** The one wiring point to context gathering. */
export type GatherContext = (req: GatherRequest) => Promise<AskContext>;

/** The real gatherer: the budget from memory, model and ThinK settings, then src/workspaceContext.ts. */
export const gatherFromWorkspace: GatherContext = async ({ question, load, config, count, token }) => {
  const [overhead] = await count([overheadText(question)]);
  const budget = tokenBudget({
    memoryBudgetMb: config.memoryBudgetMb,
    model: load.model,
    think: load.think,
    answerTokens: config.maxNewTokens,
    overheadTokens: overhead + TEMPLATE_OVERHEAD_TOKENS,
  });
  if (budget.tokens < 1) {
    throw new Error(
      `no room for any file: the ${config.memoryBudgetMb} MB memory budget and the model's ${load.model.contextLength}-token context leave ` +
        `${budget.tokens} tokens after the question and ${config.maxNewTokens} answer tokens. Raise thinkLens.memoryBudgetMb or lower thinkLens.maxNewTokens.`,
    );
  }
  const r = await gatherWorkspaceContext({ question, budgetTokens: budget.tokens, count, token });
  if (r.status !== 'ok') throw new Error(r.status === 'restricted' ? 'the workspace is in Restricted Mode; nothing was read.' : 'no workspace folder is open.');
  return { prompt: r.prompt, summary: r.summary, files: r.included.map((f) => f.uri.fsPath) };
};

/** What the last turn in the panel left in the runtime's cache. */
interface CacheState {
  loaded: LoadedModel;
  epoch: number;
  stamps: FileStamp[];
  summary: ContextSummary;
}

class AskSession implements vscode.Disposable {
  cache: CacheState | undefined;
  running: vscode.CancellationTokenSource | undefined;
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    readonly panel: AnswerPanel,
    onAsk: (q: string) => void,
    onCitation: (p: string, line: number) => void,
    onClose: () => void,
  ) {
    this.subs.push(
      panel.onDidReceiveMessage((m) => {
        if (m.type === 'stop') this.running?.cancel();
        else if (m.type === 'ask') onAsk(m.question);
        else if (m.type === 'openCitation') onCitation(m.path, m.line);
      }),
      panel.onDidDispose(() => {
        this.running?.cancel();
        onClose();
      }),
    );
  }

  dispose(): void {
    this.running?.cancel();
    for (const s of this.subs.splice(0)) s.dispose();
  }
}

/** Resolves a model-written citation inside the workspace; undefined for anything outside it. */
export function resolveCitation(p: string): vscode.Uri | undefined {
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    const root = folder.uri.fsPath;
    const abs = path.resolve(root, p);
    if (abs === root || abs.startsWith(root + path.sep)) return vscode.Uri.file(abs);
  }
  return undefined;
}

export class AskCommand implements vscode.Disposable {
  private session: AskSession | undefined;

  constructor(
    private readonly ctx: Ctx,
    private readonly gather: GatherContext,
  ) {}

  private openSession(): AskSession {
    const panel = AnswerPanel.createOrShow(this.ctx.extension.extensionUri);
    if (this.session?.panel === panel) return this.session;
    this.session?.dispose();
    const session = new AskSession(
      panel,
      (q) => void this.ask(q),
      (p, line) => void this.openCitation(p, line),
      () => {
        if (this.session === session) this.session = undefined;
        session.dispose();
      },
    );
    this.session = session;
    return session;
  }

  private async openCitation(p: string, line: number): Promise<void> {
    const uri = resolveCitation(p);
    if (!uri) {
      this.ctx.log.warn(`citation ${p}:${line} is outside the workspace; not opened`);
      return;
    }
    try {
      const pos = new vscode.Position(Math.max(0, line - 1), 0);
      await vscode.window.showTextDocument(uri, { selection: new vscode.Range(pos, pos), viewColumn: vscode.ViewColumn.One });
    } catch (e) {
      void vscode.window.showWarningMessage(`ThinK Lens: cannot open ${p}:${line}: ${(e as Error).message}`);
    }
  }

  /** The command: asks for a question unless given one (tests, the panel's follow-up box). */
  async run(questionArg?: string): Promise<void> {
    if (!(await this.ctx.requireTrust('Ask About Codebase'))) return;
    if (!vscode.workspace.workspaceFolders?.length) {
      void vscode.window.showInformationMessage('ThinK Lens: open a folder first; Ask About Codebase answers from the files of the open workspace.');
      return;
    }
    const question =
      questionArg ??
      (await vscode.window.showInputBox({ title: 'ThinK Lens: Ask About Codebase', prompt: 'Your question about this workspace', ignoreFocusOut: true }));
    if (!question?.trim()) return;
    await this.ask(question.trim());
  }

  async ask(question: string): Promise<void> {
    // Re-checked for follow-ups: trust can only be granted, but a panel could outlive a workspace switch.
    if (!vscode.workspace.isTrusted) return void (await this.ctx.requireTrust('Ask About Codebase'));
    let loaded: LoadedModel;
    try {
      loaded = await this.ctx.ensureModel();
    } catch (e) {
      return this.ctx.reportError('Ask About Codebase', e);
    }
    const session = this.openSession();
    // One generation at a time per panel: a new question stops the previous answer.
    session.running?.cancel();
    const cts = new vscode.CancellationTokenSource();
    session.running = cts;
    const post = (m: Parameters<AnswerPanel['post']>[0]) => void session.panel.post(m);
    post({ type: 'question', question, turn: nextTurn(session.panel) });
    session.panel.setTitle(question);

    try {
      const reuse = await this.canExtend(session, loaded);
      let params: Omit<GenerateParams, 'requestId'>;
      // The runtime holds the cache to the same budget: it picks the most faithful compression that fits.
      const common = {
        maxNewTokens: this.ctx.config.maxNewTokens,
        sampling: { temperature: this.ctx.config.temperature },
        memoryBudgetMb: this.ctx.config.memoryBudgetMb,
      };
      if (reuse) {
        this.ctx.log.info(`follow-up: context unchanged, extending the cache (${reuse.summary.tokens} context tokens reused)`);
        post({ type: 'context', summary: reuse.summary });
        params = { ...common, prompt: { messages: [{ role: 'user', content: question }] }, cache: 'extend' };
      } else {
        params = { ...common, ...(await this.freshContext(session, loaded, question, cts.token, post)) };
      }
      if (cts.token.isCancellationRequested) return post({ type: 'error', message: 'Stopped before the answer started.' });
      try {
        await streamGenerate({ ctx: this.ctx, model: loaded, params, post, token: cts.token });
      } catch (e) {
        // The extended cache no longer fits the context: start over with a fresh context.
        if (!(reuse && e instanceof RuntimeRequestError && e.code === RpcErrors.ContextOverflow)) throw e;
        this.ctx.log.info('follow-up overflowed the context; rebuilding the context for this question');
        params = { ...common, ...(await this.freshContext(session, loaded, question, cts.token, post)) };
        await streamGenerate({ ctx: this.ctx, model: loaded, params, post, token: cts.token });
      }
      if (session.cache) session.cache.epoch = this.ctx.cacheEpoch;
    } catch (e) {
      session.cache = undefined;
      if (e instanceof vscode.CancellationError) return post({ type: 'error', message: 'Stopped before the answer started.' });
      const message =
        e instanceof RuntimeExitedError
          ? `${e.message} It is being restarted; ask again.`
          : e instanceof Error
            ? e.message
            : String(e);
      this.ctx.log.error(`Ask About Codebase: ${message}`);
      post({ type: 'error', message });
    } finally {
      if (session.running === cts) session.running = undefined;
      cts.dispose();
    }
  }

  private async canExtend(session: AskSession, loaded: LoadedModel): Promise<CacheState | undefined> {
    const c = session.cache;
    if (!c || c.loaded !== loaded || c.epoch !== this.ctx.cacheEpoch) return undefined;
    return (await unchangedSince(c.stamps)) ? c : undefined;
  }

  private async freshContext(
    session: AskSession,
    loaded: LoadedModel,
    question: string,
    token: vscode.CancellationToken,
    post: (m: Parameters<AnswerPanel['post']>[0]) => void,
  ): Promise<Omit<GenerateParams, 'requestId' | 'maxNewTokens' | 'sampling'>> {
    session.cache = undefined;
    const count = async (texts: string[]) => (await loaded.client.request('countTokens', { texts }, token)).counts;
    const context = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'ThinK Lens: reading the workspace' },
      () => this.ctx.busy(() => this.gather({ question, load: loaded.load, config: this.ctx.config, count, token })),
    );
    const s = context.summary;
    this.ctx.log.info(`context: ${s.filesIncluded} of ${s.filesConsidered} files, ${s.tokens} tokens, budget ${s.budgetTokens} (${s.filesSkipped} skipped)`);
    post({ type: 'context', summary: s });
    const stamps = await stampFiles(context.files);
    // epoch -1 until the generation that fills the cache has finished.
    session.cache = { loaded, epoch: -1, stamps, summary: s };
    return { prompt: { messages: firstTurnMessages(context.prompt, question) }, cache: 'reset' };
  }

  dispose(): void {
    this.session?.dispose();
    this.session = undefined;
  }
}

export function registerAskAboutCodebase(ctx: Ctx, gather: GatherContext = gatherFromWorkspace): vscode.Disposable {
  const cmd = new AskCommand(ctx, gather);
  return vscode.Disposable.from(
    cmd,
    // The panel is a singleton of its class; on deactivation it goes with the extension.
    new vscode.Disposable(() => AnswerPanel.current?.dispose()),
    vscode.commands.registerCommand('thinkLens.askAboutCodebase', (question?: string) =>
      cmd.run(typeof question === 'string' ? question : undefined).catch((e) => ctx.reportError('Ask About Codebase', e)),
    ),
  );
}
