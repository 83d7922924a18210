// "ThinK Lens: Summarize File": the explorer's selected file, or the active editor's file (only the
// selection, when there is one). Text that fits the token budget is summarized in one request;
// longer text is split into line-aligned chunks (core/context/chunkText.ts), each summarized, and the
// partial summaries are combined (in groups, repeatedly, if they do not fit together). Progress is
// a cancellable notification; the panel's Stop button cancels too. The final summary streams into
// the Answer panel.

import * as vscode from 'vscode';
import type { AnswerInMessage } from '../../core/protocol/webview';
import { tokenCounter, type Ctx, type LoadedModel } from '../ctx';
import { AnswerPanel } from '../panels/answerPanel';
import { nextTurn, streamGenerate } from '../answerStream';
import { chunkText, type TextChunk } from '../../core/context/chunkText';
import { abortSignalFor, documentChunks } from '../workspaceContext';
import { tokenBudget } from '../../core/context/budget';
import { TEMPLATE_OVERHEAD_TOKENS } from '../../core/context/prompt';

export const SUMMARY_SYSTEM =
  'You summarize source files for a developer. Say what the code is for, its main parts and how they fit together, ' +
  'citing line numbers as path:line. Be concise.';
export const PART_INSTRUCTION = 'Summarize this part of a longer file. Keep names of functions, types and other identifiers.';
export const COMBINE_INSTRUCTION = 'These are summaries of consecutive parts of one file. Combine them into one summary of the whole file.';

export interface SummaryTarget {
  doc: vscode.TextDocument;
  /** Set when only a selection is summarized. */
  selection?: vscode.Range;
  /** As shown to the user (workspace-relative when possible). */
  label: string;
}

/** Which text the command summarizes: an explorer resource wins over the active editor. */
export async function summaryTarget(uri?: vscode.Uri, uris?: vscode.Uri[]): Promise<SummaryTarget | undefined> {
  const chosen = uris?.[0] ?? uri;
  const editor = vscode.window.activeTextEditor;
  if (chosen && !(editor && editor.document.uri.toString() === chosen.toString())) {
    const doc = await vscode.workspace.openTextDocument(chosen);
    return { doc, label: vscode.workspace.asRelativePath(doc.uri, true) };
  }
  if (!editor) return undefined;
  const doc = editor.document;
  const label = vscode.workspace.asRelativePath(doc.uri, true);
  const sel = editor.selection;
  if (sel && !sel.isEmpty) {
    return { doc, selection: new vscode.Range(sel.start, sel.end), label: `${label} (lines ${sel.start.line + 1}-${sel.end.line + 1})` };
  }
  return { doc, label };
}

export async function summarizeFile(ctx: Ctx, uri?: vscode.Uri, uris?: vscode.Uri[]): Promise<void> {
  if (!(await ctx.requireTrust('Summarize File'))) return;
  const target = await summaryTarget(uri, uris);
  if (!target) {
    void vscode.window.showInformationMessage('ThinK Lens: open a file in the editor, or right-click one in the Explorer, to summarize it.');
    return;
  }
  const text = target.doc.getText(target.selection);
  if (!text.trim()) {
    void vscode.window.showInformationMessage(`ThinK Lens: ${target.label} is empty; nothing to summarize.`);
    return;
  }
  const loaded = await ctx.ensureModel();
  const panel = AnswerPanel.createOrShow(ctx.extension.extensionUri);
  const post = (m: AnswerInMessage) => void panel.post(m);
  post({ type: 'question', question: `Summarize ${target.label}`, turn: nextTurn(panel) });
  panel.setTitle(`Summarize ${target.label}`);

  const cts = new vscode.CancellationTokenSource();
  const stopSub = panel.onDidReceiveMessage((m) => m.type === 'stop' && cts.cancel());
  const closeSub = panel.onDidDispose(() => cts.cancel());
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `ThinK Lens: Summarizing ${target.label}`, cancellable: true },
      async (progress, token) => {
        const sub = token.onCancellationRequested(() => cts.cancel());
        try {
          await summarizeText(ctx, loaded, target, text, post, (message) => progress.report({ message }), cts.token);
        } finally {
          sub.dispose();
        }
      },
    );
  } catch (e) {
    if (e instanceof vscode.CancellationError || cts.token.isCancellationRequested) {
      post({ type: 'error', message: 'Summary stopped.' });
      return;
    }
    const message = e instanceof Error ? e.message : String(e);
    ctx.log.error(`Summarize File ${target.label}: ${message}`);
    post({ type: 'error', message });
  } finally {
    stopSub.dispose();
    closeSub.dispose();
    cts.dispose();
  }
}

async function summarizeText(
  ctx: Ctx,
  loaded: LoadedModel,
  target: SummaryTarget,
  text: string,
  post: (m: AnswerInMessage) => void,
  report: (message: string) => void,
  token: vscode.CancellationToken,
): Promise<void> {
  const count = tokenCounter(loaded, token);
  // The system prompt plus the longest instruction that shares a request with a chunk or with part summaries.
  const [system, ...instructions] = await count([SUMMARY_SYSTEM, PART_INSTRUCTION, COMBINE_INSTRUCTION, 'Summarize this file.']);
  const overhead = system + Math.max(...instructions);
  const budget = tokenBudget({
    memoryBudgetMb: ctx.config.memoryBudgetMb,
    model: loaded.load.model,
    think: loaded.load.think,
    answerTokens: ctx.config.maxNewTokens,
    overheadTokens: overhead + TEMPLATE_OVERHEAD_TOKENS,
    // Each part is one request's prompt: the same cap on what one prefill reads as Ask's.
    maxPromptTokens: ctx.config.contextTokens,
  });
  if (budget.tokens < 1) {
    throw new Error(
      budget.limitedBy === 'cap'
        ? `no room for any text: the ${ctx.config.contextTokens}-token prompt cap (thinkLens.contextTokens) is used up by the instructions. Raise thinkLens.contextTokens.`
        : `no room for any text: the memory budget and the ${loaded.load.model.contextLength}-token context are used up by the instructions and ${ctx.config.maxNewTokens} answer tokens. Lower thinkLens.maxNewTokens.`,
    );
  }
  report('splitting into parts that fit the context');
  const abort = abortSignalFor(token);
  let chunks: TextChunk[];
  try {
    // A selection is chunked on its own (numbered from its first line as 1, its header names the range).
    chunks = target.selection
      ? await chunkText(target.label, text, { budgetTokens: budget.tokens, count, signal: abort.signal })
      : await documentChunks(target.doc, budget.tokens, count, token);
  } finally {
    abort.dispose();
  }
  ctx.log.info(`summarize ${target.label}: ${chunks.length} part(s) within ${budget.tokens} tokens each (limited by ${budget.limitedBy})`);
  const generate = (content: string, system: string, final: boolean) =>
    streamGenerate({
      ctx,
      model: loaded,
      params: {
        prompt: { messages: [{ role: 'system', content: system }, { role: 'user', content }] },
        maxNewTokens: ctx.config.maxNewTokens,
        sampling: { temperature: ctx.config.temperature },
        memoryBudgetMb: ctx.config.memoryBudgetMb,
        cache: 'reset',
      },
      post,
      postProgressOnly: !final,
      token,
    });

  if (chunks.length === 1) {
    report('Summarizing');
    await generate(`Summarize this file.\n\n${chunks[0].text}`, SUMMARY_SYSTEM, true);
    return;
  }

  // Map: one summary per part.
  let parts: string[] = [];
  for (const [i, c] of chunks.entries()) {
    report(`Summarizing part ${i + 1} of ${chunks.length} (lines ${c.firstLine}-${c.lastLine})`);
    const r = await generate(`${PART_INSTRUCTION}\n\n${c.text}`, SUMMARY_SYSTEM, false);
    if (token.isCancellationRequested) throw new vscode.CancellationError();
    parts.push(`Part ${i + 1} (lines ${c.firstLine}-${c.lastLine}):\n${r.text.trim()}`);
  }
  // Reduce: combine as many part summaries as fit; repeat until one request holds them all.
  for (let round = 1; ; round++) {
    const counts = await count(parts);
    const groups: string[][] = [];
    let size = 0;
    for (const [i, p] of parts.entries()) {
      if (!groups.length || size + counts[i] > budget.tokens) {
        groups.push([]);
        size = 0;
      }
      groups[groups.length - 1].push(p);
      size += counts[i];
    }
    if (groups.length === 1) {
      report(`Combining ${parts.length} part summaries`);
      await generate(`${COMBINE_INSTRUCTION}\n\n${parts.join('\n\n')}`, SUMMARY_SYSTEM, true);
      return;
    }
    if (groups.length >= parts.length) {
      throw new Error(`the part summaries do not fit together in ${budget.tokens} tokens; lower thinkLens.maxNewTokens so that they are shorter.`);
    }
    const next: string[] = [];
    for (const [g, group] of groups.entries()) {
      report(`Combining part summaries: round ${round}, group ${g + 1} of ${groups.length}`);
      const r = await generate(`${COMBINE_INSTRUCTION}\n\n${group.join('\n\n')}`, SUMMARY_SYSTEM, false);
      if (token.isCancellationRequested) throw new vscode.CancellationError();
      next.push(r.text.trim());
    }
    parts = next;
  }
}

export function registerSummarizeFile(ctx: Ctx): vscode.Disposable {
  return vscode.commands.registerCommand('thinkLens.summarizeFile', (uri?: unknown, uris?: unknown) =>
    summarizeFile(
      ctx,
      uri instanceof vscode.Uri ? uri : undefined,
      Array.isArray(uris) ? uris.filter((u): u is vscode.Uri => u instanceof vscode.Uri) : undefined,
    ).catch((e) => ctx.reportError('Summarize File', e)),
  );
}
