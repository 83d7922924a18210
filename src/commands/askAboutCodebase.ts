// "ThinK Lens: Ask About Codebase": gathers as much of the workspace as the memory budget allows
// (ranked against the question and packed with paths and line numbers: src/workspaceContext.ts),
// and streams the answer into the Answer panel, with Stop and path:line citations.
//
// Follow-ups asked in the panel reuse the runtime's cache when the packed context is unchanged
// (src/contextFingerprint.ts): the runtime appends only the new question, keeping the pruned prefix
// with the channels the first question's observation window chose. Which cache that is, only the
// runtime knows: every result hands out its cache's handle (`cacheId`), the follow-up names it
// (`cache: { extend: cacheId }`), and a handle the runtime no longer holds (another request, a
// restart, a reload replaced the cache) is refused with StaleCache. A refused handle, a turn that
// left no handle (stopped while its prompt was read), a changed file or a context that no longer
// fits means a fresh context and `cache: 'reset'`, and the panel says the workspace was re-read.

import * as path from 'node:path';
import * as vscode from 'vscode';
import type { GenerateParams, GenerateResult, LoadResult } from '../../core/protocol/rpc';
import type { ContextSummary } from '../../core/protocol/webview';
import { RpcErrors } from '../../core/protocol/rpc';
import { tokenCounter, type Ctx, type LoadedModel } from '../ctx';
import type { ThinkLensConfig } from '../config';
import { AnswerPanel } from '../panels/answerPanel';
import { nextTurn, streamGenerate } from '../answerStream';
import { stampFiles, unchangedSince, type FileStamp } from '../contextFingerprint';
import { failureMessage, RuntimeRequestError } from '../runtimeClient';
import { gatherWorkspaceContext } from '../workspaceContext';
import { tokenBudget, type TokenBudget } from '../../core/context/budget';
import { firstTurnMessages, overheadText, TEMPLATE_OVERHEAD_TOKENS } from '../../core/context/prompt';

/** The workspace context for one question (built by src/workspaceContext.ts). */
export interface AskContext {
  /** The packed files: headers with paths, numbered lines. */
  prompt: string;
  summary: ContextSummary;
  /** Absolute paths of the files in `prompt`. */
  files: string[];
  /** Which limit set the budget: memory, the model's context, or thinkLens.contextTokens (for the log). */
  limitedBy?: TokenBudget['limitedBy'];
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

/**
 * The real gatherer: the budget from memory, model and ThinK settings, capped at
 * thinkLens.contextTokens prompt tokens (prefill time on a CPU), then src/workspaceContext.ts.
 */
export const gatherFromWorkspace: GatherContext = async ({ question, load, config, count, token }) => {
  const [overhead] = await count([overheadText(question)]);
  const budget = tokenBudget({
    memoryBudgetMb: config.memoryBudgetMb,
    model: load.model,
    think: load.think,
    answerTokens: config.maxNewTokens,
    overheadTokens: overhead + TEMPLATE_OVERHEAD_TOKENS,
    maxPromptTokens: config.contextTokens,
  });
  if (budget.tokens < 1) {
    throw new Error(
      budget.limitedBy === 'cap'
        ? `no room for any file: the ${config.contextTokens}-token prompt cap (thinkLens.contextTokens) leaves ${budget.tokens} tokens after the question. Raise thinkLens.contextTokens or ask a shorter question.`
        : `no room for any file: the ${config.memoryBudgetMb} MiB memory budget and the model's ${load.model.contextLength}-token context leave ` +
            `${budget.tokens} tokens after the question and ${config.maxNewTokens} answer tokens. Raise thinkLens.memoryBudgetMb or lower thinkLens.maxNewTokens.`,
    );
  }
  const r = await gatherWorkspaceContext({ question, budgetTokens: budget.tokens, count, token });
  if (r.status !== 'ok') throw new Error(r.status === 'restricted' ? 'the workspace is in Restricted Mode; nothing was read.' : 'no workspace folder is open.');
  return { prompt: r.prompt, summary: r.summary, files: r.included.map((f) => f.uri.fsPath), limitedBy: budget.limitedBy };
};

/** How the log names the limit that set a context budget. */
const LIMITS: Record<TokenBudget['limitedBy'], string> = {
  memory: 'the memory budget',
  context: "the model's context",
  cap: 'thinkLens.contextTokens',
};

/**
 * What the panel's last turn left in the runtime: a cache named by its handle, with the files and
 * summary of the context it holds; or nothing to build on, and why (said when a follow-up re-reads).
 */
type CacheState = { held: true; cacheId: string; stamps: FileStamp[]; summary: ContextSummary } | { held: false; why: string };

/** One question's request, and the files and summary of the context its cache holds. */
interface TurnContext {
  params: Omit<GenerateParams, 'requestId' | 'maxNewTokens' | 'sampling'>;
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
      // The runtime holds the cache to the same budget: it picks the most faithful compression that fits.
      const common = {
        maxNewTokens: this.ctx.config.maxNewTokens,
        sampling: { temperature: this.ctx.config.temperature },
        memoryBudgetMb: this.ctx.config.memoryBudgetMb,
      };
      const fresh = async (why: string | undefined) => {
        if (why) {
          this.ctx.log.info(`follow-up: ${why}; re-reading the workspace`);
          post({ type: 'notice', text: `${why}: re-reading the workspace for this question.` });
        }
        return this.freshContext(session, loaded, question, cts.token, post);
      };
      const reuse = await this.canExtend(session);
      let context: TurnContext;
      if (reuse.held) {
        this.ctx.log.info(`follow-up: context unchanged, extending cache ${reuse.cacheId} (${reuse.summary.tokens} context tokens reused)`);
        post({ type: 'context', summary: reuse.summary });
        const params: TurnContext['params'] = { prompt: { messages: [{ role: 'user', content: question }] }, cache: { extend: reuse.cacheId } };
        context = { params, stamps: reuse.stamps, summary: reuse.summary };
      } else {
        context = await fresh(reuse.why);
      }
      if (cts.token.isCancellationRequested) return post({ type: 'error', message: 'Stopped before the answer started.' });
      let result: GenerateResult;
      try {
        result = await streamGenerate({ ctx: this.ctx, model: loaded, params: { ...common, ...context.params }, post, token: cts.token });
      } catch (e) {
        const why = reuse.held ? whyNotExtended(e) : undefined;
        if (!why) throw e;
        context = await fresh(why);
        result = await streamGenerate({ ctx: this.ctx, model: loaded, params: { ...common, ...context.params }, post, token: cts.token });
      }
      session.cache = result.cacheId
        ? { held: true, cacheId: result.cacheId, stamps: context.stamps, summary: context.summary }
        : {
            held: false,
            why: loaded.remote
              ? 'A remote engine keeps no context between questions'
              : result.finishReason === 'cancelled'
                ? 'The last answer was stopped while its prompt was read, so the runtime kept no context to build on'
                : 'The runtime kept no context to build on',
          };
    } catch (e) {
      session.cache = undefined;
      if (e instanceof vscode.CancellationError) return post({ type: 'error', message: 'Stopped before the answer started.' });
      const message = failureMessage(e);
      this.ctx.log.error(`Ask About Codebase: ${message}`);
      post({ type: 'error', message });
    } finally {
      if (session.running === cts) session.running = undefined;
      cts.dispose();
    }
  }

  /**
   * Whether this question can extend the cache the panel's last turn left: only the runtime knows
   * whether it still holds it (it refuses a stale handle); here, only whether the files changed.
   * Otherwise, why not (undefined for a panel with no turn to build on: nothing worth saying).
   */
  private async canExtend(session: AskSession): Promise<CacheState | { held: false; why: string | undefined }> {
    const c = session.cache;
    if (!c) return { held: false, why: undefined };
    if (!c.held) return c;
    return (await unchangedSince(c.stamps)) ? c : { held: false, why: 'Files in the context changed since the last answer' };
  }

  private async freshContext(
    session: AskSession,
    loaded: LoadedModel,
    question: string,
    token: vscode.CancellationToken,
    post: (m: Parameters<AnswerPanel['post']>[0]) => void,
  ): Promise<TurnContext> {
    // From here on the panel shows another context: the old cache is no longer this panel's.
    session.cache = undefined;
    const count = tokenCounter(loaded, token);
    const context = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'ThinK Lens: reading the workspace' },
      () => this.ctx.busy(() => this.gather({ question, load: loaded.load, config: this.ctx.config, count, token })),
    );
    const s = context.summary;
    this.ctx.log.info(
      `context: ${s.filesIncluded} of ${s.filesConsidered} files, ${s.tokens} tokens, budget ${s.budgetTokens}${context.limitedBy ? ` (set by ${LIMITS[context.limitedBy]})` : ''} (${s.filesSkipped} skipped)`,
    );
    post({ type: 'context', summary: s });
    const stamps = await stampFiles(context.files);
    return { params: { prompt: { messages: firstTurnMessages(context.prompt, question) }, cache: 'reset' }, stamps, summary: s };
  }

  dispose(): void {
    this.session?.dispose();
    this.session = undefined;
  }
}

/** Why a follow-up that extended the cache has to start over instead; undefined when it need not. */
function whyNotExtended(e: unknown): string | undefined {
  if (!(e instanceof RuntimeRequestError)) return undefined;
  if (e.code === RpcErrors.StaleCache) return "The runtime no longer holds this conversation's context (another request replaced it, or the runtime restarted)";
  if (e.code === RpcErrors.ContextOverflow) return 'The conversation no longer fits the model\'s context';
  return undefined;
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
