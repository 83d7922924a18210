// `@thinklens` in the chat view: Ask About Codebase as a chat participant. Each request packs the
// workspace against the question exactly as the command does (gatherFromWorkspace: ranked files
// with paths and line numbers, within the memory budget), lists the packed files as references,
// and streams the answer as markdown, with the model's `path:line` citations turned into anchors
// that open the line (core/citations.ts, the Answer panel's parser). Generation goes through
// streamGenerate, so the Cache Inspector follows it. In Restricted Mode it reads nothing and says
// why, like the commands.

import * as vscode from 'vscode';
import { findCitations } from '../../core/citations';
import { firstTurnMessages } from '../../core/context/prompt';
import { streamGenerate } from '../answerStream';
import { gatherFromWorkspace, resolveCitation, type GatherContext } from '../commands/askAboutCodebase';
import { MODEL_ACTION_COMMANDS, NoModelError, tokenCounter, type Ctx, type LoadedModel } from '../ctx';
import { failureMessage } from '../runtimeClient';
import { chatParticipantApi } from './lmApi';

/** `contributes.chatParticipants[].id` in package.json (its `name`, `thinklens`, is what users type after `@`). */
export const PARTICIPANT_ID = 'thinkLens.chat';

/** What a request's result carries (ChatResult.metadata), for follow-ups and tests. */
export interface ThinkLensChatMetadata {
  outcome: 'answered' | 'restricted' | 'noWorkspace' | 'noQuestion' | 'noModel' | 'cancelled' | 'error';
  files?: string[];
  finishReason?: string;
}

/**
 * Streams model text as markdown, with citations as anchors. Text is held back up to the last
 * whitespace (a citation never spans one), so a citation split across tokens is still found; inside
 * a fenced code block the text stays as written.
 */
export class CitationStream {
  private pending = '';
  private fences = 0;
  readonly cited = new Set<string>();

  constructor(private readonly stream: vscode.ChatResponseStream) {}

  push(text: string): void {
    this.pending += text;
    const cut = Math.max(this.pending.lastIndexOf(' '), this.pending.lastIndexOf('\n'), this.pending.lastIndexOf('\t'));
    if (cut < 0) return;
    this.emit(this.pending.slice(0, cut + 1));
    this.pending = this.pending.slice(cut + 1);
  }

  end(): void {
    if (this.pending) this.emit(this.pending);
    this.pending = '';
  }

  private emit(text: string): void {
    // Lines keep the fence state exact: a line opening or closing a fence switches it.
    for (const line of text.split(/(?<=\n)/)) {
      const inCode = this.fences % 2 === 1;
      this.fences += (line.match(/```/g) ?? []).length;
      if (inCode || /```/.test(line)) this.stream.markdown(line);
      else this.emitLine(line);
    }
  }

  private emitLine(line: string): void {
    let at = 0;
    for (const c of findCitations(line)) {
      const uri = resolveCitation(c.path);
      if (!uri) continue;
      // `src/a.ts:3` in backticks: the anchor replaces the code span, backticks included.
      const ticked = line[c.start - 1] === '`' && line[c.end] === '`';
      const start = ticked ? c.start - 1 : c.start;
      if (start > at) this.stream.markdown(line.slice(at, start));
      const pos = new vscode.Position(c.line - 1, 0);
      this.stream.anchor(new vscode.Location(uri, pos), line.slice(c.start, c.end));
      this.cited.add(uri.fsPath);
      at = ticked ? c.end + 1 : c.end;
    }
    if (at < line.length) this.stream.markdown(line.slice(at));
  }
}

export class ThinkLensParticipant {
  constructor(
    private readonly ctx: Ctx,
    private readonly gather: GatherContext = gatherFromWorkspace,
  ) {}

  readonly handler: vscode.ChatRequestHandler = (request, _context, stream, token) => this.answer(request.prompt, stream, token);

  async answer(prompt: string, stream: vscode.ChatResponseStream, token: vscode.CancellationToken): Promise<vscode.ChatResult> {
    const result = (metadata: ThinkLensChatMetadata, errorDetails?: vscode.ChatErrorDetails): vscode.ChatResult => ({ metadata, errorDetails });
    if (!vscode.workspace.isTrusted) {
      this.ctx.log.info('@thinklens: not run, the workspace is in Restricted Mode');
      stream.markdown(
        '**@thinklens** reads this workspace\'s files and feeds them to a local model, so it is disabled in Restricted Mode. Trust the workspace to use it.',
      );
      stream.button({ command: 'workbench.trust.manage', title: 'Manage Workspace Trust' });
      return result({ outcome: 'restricted' });
    }
    if (!vscode.workspace.workspaceFolders?.length) {
      stream.markdown('Open a folder first: **@thinklens** answers from the files of the open workspace.');
      return result({ outcome: 'noWorkspace' });
    }
    const question = prompt.trim();
    if (!question) {
      stream.markdown('Ask a question about this workspace, for example: `@thinklens where is the configuration read?`');
      return result({ outcome: 'noQuestion' });
    }

    let loaded: LoadedModel;
    try {
      stream.progress('Loading the model…');
      loaded = await this.ctx.ensureModel(token);
    } catch (e) {
      if (e instanceof NoModelError) {
        stream.markdown(e.message);
        for (const action of e.actions) stream.button({ command: MODEL_ACTION_COMMANDS[action], title: action });
        return result({ outcome: 'noModel' });
      }
      return this.failed(e, token, result);
    }
    const { config } = this.ctx;
    try {
      stream.progress('Reading the workspace…');
      const count = tokenCounter(loaded, token);
      const context = await this.ctx.busy(() => this.gather({ question, load: loaded.load, config, count, token }));
      const s = context.summary;
      this.ctx.log.info(`@thinklens context: ${s.filesIncluded} of ${s.filesConsidered} files, ${s.tokens} tokens, budget ${s.budgetTokens} (${s.filesSkipped} skipped)`);
      for (const f of context.files) stream.reference(vscode.Uri.file(f));
      if (token.isCancellationRequested) return result({ outcome: 'cancelled' });
      stream.progress(`Read ${s.filesIncluded} of ${s.filesConsidered} files (${s.tokens} tokens); answering…`);
      const out = new CitationStream(stream);
      let sent = 0;
      const r = await streamGenerate({
        ctx: this.ctx,
        model: loaded,
        params: {
          prompt: { messages: firstTurnMessages(context.prompt, question) },
          cache: 'reset',
          maxNewTokens: config.maxNewTokens,
          sampling: { temperature: config.temperature },
          memoryBudgetMb: config.memoryBudgetMb,
        },
        token,
        onText: (text) => {
          out.push(text.slice(sent));
          sent = text.length;
        },
      });
      out.end();
      if (r.finishReason === 'cancelled') return result({ outcome: 'cancelled', files: context.files, finishReason: r.finishReason });
      if (r.finishReason === 'length') stream.markdown(`\n\n*(stopped at ${config.maxNewTokens} tokens: thinkLens.maxNewTokens)*`);
      return result({ outcome: 'answered', files: context.files, finishReason: r.finishReason });
    } catch (e) {
      return this.failed(e, token, result);
    }
  }

  private failed(
    e: unknown,
    token: vscode.CancellationToken,
    result: (m: ThinkLensChatMetadata, errorDetails?: vscode.ChatErrorDetails) => vscode.ChatResult,
  ): vscode.ChatResult {
    if (token.isCancellationRequested || e instanceof vscode.CancellationError) return result({ outcome: 'cancelled' });
    const message = failureMessage(e);
    this.ctx.log.error(`@thinklens: ${message}`);
    return result({ outcome: 'error' }, { message: `ThinK Lens: ${message}` });
  }
}

/** Creates `@thinklens` where this host has the chat API; undefined (nothing registered) elsewhere. */
export function registerChatParticipant(ctx: Ctx, gather?: GatherContext): vscode.Disposable | undefined {
  const create = chatParticipantApi();
  if (!create) {
    ctx.log.info('@thinklens: not registered (this VS Code has no vscode.chat.createChatParticipant)');
    return undefined;
  }
  const participant = new ThinkLensParticipant(ctx, gather);
  try {
    const p = create(PARTICIPANT_ID, participant.handler);
    p.iconPath = new vscode.ThemeIcon('comment-discussion');
    return p;
  } catch (e) {
    ctx.log.warn(`@thinklens: not registered: ${(e as Error).message}`);
    return undefined;
  }
}
