// The thin VS Code side of codebase context: reads the workspace folders and the user's
// files.exclude / search.exclude / search.followSymlinks, then calls the pure modules
// (workspaceScan -> rank -> pack). In Restricted Mode (an untrusted workspace) it reads nothing at
// all, not even the file list: untrusted content must not reach the model unasked.

import * as vscode from 'vscode';
import { chunkText, type TextChunk } from '../core/context/chunkText';
import { packFiles, type TokenCounter } from '../core/context/pack';
import type { ContextSummary } from '../core/protocol/webview';
import { rankFiles } from '../core/context/rank';
import { scanWorkspace, type ExcludeSettings, type FileSkipReason, type DirSkipReason, type ScannedFile } from '../core/context/scan';

export interface WorkspaceContextRequest {
  question: string;
  budgetTokens: number;
  count: TokenCounter;
  token?: vscode.CancellationToken;
}

export interface IncludedFile {
  /** As in the prompt header: relative to its folder, prefixed with the folder name in a multi-root workspace. */
  path: string;
  uri: vscode.Uri;
}

export type WorkspaceContext =
  | {
      status: 'ok';
      prompt: string;
      included: IncludedFile[];
      truncated?: { path: string; linesKept: number; linesTotal: number };
      summary: ContextSummary;
      /** Skip counts summed over folders, for the log. */
      skipped: Record<FileSkipReason, number>;
      skippedDirs: Record<DirSkipReason, number>;
    }
  | { status: 'restricted' | 'noFolder'; summary: ContextSummary };

function emptySummary(budgetTokens: number): ContextSummary {
  return { filesIncluded: 0, filesConsidered: 0, filesSkipped: 0, tokens: 0, budgetTokens };
}

/** files.exclude then search.exclude (VS Code's search uses both; search.exclude wins on the same glob). */
export function excludeSettingsFor(folder: vscode.WorkspaceFolder): ExcludeSettings {
  const files = vscode.workspace.getConfiguration('files', folder.uri).get<ExcludeSettings>('exclude') ?? {};
  const search = vscode.workspace.getConfiguration('search', folder.uri).get<ExcludeSettings>('exclude') ?? {};
  return { ...(isObject(files) ? files : {}), ...(isObject(search) ? search : {}) };
}

function isObject(v: unknown): v is ExcludeSettings {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Bridges a VS Code cancellation token to the AbortSignal the pure modules take. */
export function abortSignalFor(token: vscode.CancellationToken | undefined): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  if (!token) return { signal: ac.signal, dispose: () => undefined };
  if (token.isCancellationRequested) ac.abort(new vscode.CancellationError());
  const d = token.onCancellationRequested(() => ac.abort(new vscode.CancellationError()));
  return { signal: ac.signal, dispose: () => d.dispose() };
}

/**
 * Gathers the files most relevant to `question` from every workspace folder, packed into
 * `budgetTokens`. Rejects with vscode.CancellationError when `token` is cancelled.
 */
export async function gatherWorkspaceContext(req: WorkspaceContextRequest): Promise<WorkspaceContext> {
  if (!vscode.workspace.isTrusted) return { status: 'restricted', summary: emptySummary(req.budgetTokens) };
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (!folders.length) return { status: 'noFolder', summary: emptySummary(req.budgetTokens) };

  const abort = abortSignalFor(req.token);
  try {
    const multiRoot = folders.length > 1;
    const all: Array<ScannedFile & { uri: vscode.Uri }> = [];
    let skippedBefore = 0;
    let skipped: Record<FileSkipReason, number> | undefined;
    let skippedDirs: Record<DirSkipReason, number> | undefined;
    for (const folder of folders) {
      if (folder.uri.scheme !== 'file') continue; // node:fs reaches local folders only
      const followSymlinks = vscode.workspace.getConfiguration('search', folder.uri).get<boolean>('followSymlinks') ?? true;
      const scan = await scanWorkspace(folder.uri.fsPath, { exclude: excludeSettingsFor(folder), followSymlinks, signal: abort.signal });
      for (const f of scan.files) {
        all.push({ ...f, path: multiRoot ? `${folder.name}/${f.path}` : f.path, uri: vscode.Uri.file(f.absPath) });
      }
      skippedBefore += scan.filesSkipped;
      skipped = addCounts(skipped, scan.skipped);
      skippedDirs = addCounts(skippedDirs, scan.skippedDirs);
    }
    const ranked = rankFiles(all, req.question).map((r) => r.file);
    const packed = await packFiles(ranked, { budgetTokens: req.budgetTokens, count: req.count, skippedBeforeRanking: skippedBefore, signal: abort.signal });
    const byPath = new Map(all.map((f) => [f.path, f.uri]));
    return {
      status: 'ok',
      prompt: packed.prompt,
      included: packed.included.map((p) => ({ path: p, uri: byPath.get(p)! })),
      truncated: packed.truncated,
      summary: packed.summary,
      skipped: skipped ?? ({} as Record<FileSkipReason, number>),
      skippedDirs: skippedDirs ?? ({} as Record<DirSkipReason, number>),
    };
  } finally {
    abort.dispose();
  }
}

function addCounts<K extends string>(into: Record<K, number> | undefined, add: Record<K, number>): Record<K, number> {
  if (!into) return { ...add };
  for (const k of Object.keys(add) as K[]) into[k] = (into[k] ?? 0) + add[k];
  return into;
}

/**
 * The chunks of an open document for "Summarize File" (its current text, unsaved edits included;
 * nothing is read from disk). The path in headers is workspace-relative when the document lies in
 * a workspace folder.
 */
export async function documentChunks(doc: vscode.TextDocument, budgetTokens: number, count: TokenCounter, token?: vscode.CancellationToken): Promise<TextChunk[]> {
  const abort = abortSignalFor(token);
  try {
    const path = doc.uri.scheme === 'file' || doc.uri.scheme === 'untitled' ? vscode.workspace.asRelativePath(doc.uri, true) : doc.uri.toString();
    return await chunkText(path, doc.getText(), { budgetTokens, count, signal: abort.signal });
  } finally {
    abort.dispose();
  }
}
