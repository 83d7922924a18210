// "ThinK Lens: Download Model": fetches a Hub repository into the extension's global storage
// (core/hub.ts: resumable, every file checked against the Hub's hashes), with a cancellable
// progress notification, then points `thinkLens.model` at the repo id. Offline, it says so and
// offers Select Model instead (a local folder or GGUF file, or a model Ollama or LM Studio has).
import * as vscode from 'vscode';
import { downloadModel, DownloadCancelledError, HubOfflineError, type DownloadProgress } from '../../core/hub';
import { hubModelDir, isHubRepoId, SECTION } from '../config';
import { SELECT_MODEL_ACTION, type Ctx } from '../ctx';
import { DEFAULT_HUB_MODEL } from '../../core/defaultModel';
import { formatBytes } from '../../core/numberFormat';

/** The default model (core/defaultModel.ts says why). */
export const DEFAULT_REPO = DEFAULT_HUB_MODEL;

export function validateRepoId(value: string): string | undefined {
  const v = value.trim();
  if (!v) return 'Enter a Hugging Face repo id such as ' + DEFAULT_REPO;
  if (!isHubRepoId(v)) return `"${v}" is not a repo id: expected owner/name (letters, digits, '-', '_', '.').`;
  return undefined;
}

/** Returns the folder the model is in, or undefined (cancelled, failed: already reported). */
export async function downloadModelCommand(ctx: Ctx, repoArg?: string): Promise<string | undefined> {
  const repo =
    repoArg ??
    (await vscode.window.showInputBox({
      title: 'Download a model from the Hugging Face Hub',
      prompt: 'Repo id (Llama, Mistral, Qwen2 or Qwen3 architecture with safetensors weights)',
      value: DEFAULT_REPO,
      validateInput: validateRepoId,
    }));
  if (repo === undefined) return undefined;
  const invalid = validateRepoId(repo);
  if (invalid) {
    void vscode.window.showErrorMessage(`ThinK Lens: ${invalid}`);
    return undefined;
  }
  const id = repo.trim();
  const outDir = hubModelDir(ctx.globalStorage, id);
  ctx.log.info(`downloading ${id} into ${outDir}`);
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `ThinK Lens: downloading ${id}`, cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        const sub = token.onCancellationRequested(() => abort.abort());
        let reportedPct = 0;
        try {
          return await downloadModel({
            repo: id,
            outDir,
            signal: abort.signal,
            onProgress: (p: DownloadProgress) => {
              // withProgress takes increments; convert the running total into them.
              const pct = p.total > 0 ? (100 * p.bytes) / p.total : 0;
              progress.report({
                message: `${p.file} (${p.filesDone}/${p.filesTotal} files, ${formatBytes(p.bytes)} of ${formatBytes(p.total)})`,
                increment: Math.max(0, pct - reportedPct),
              });
              reportedPct = Math.max(reportedPct, pct);
            },
          });
        } finally {
          sub.dispose();
        }
      },
    );
    ctx.log.info(`downloaded ${id}: ${result.files.length} files verified, ${formatBytes(result.downloadedBytes)} transferred`);
    await vscode.workspace.getConfiguration(SECTION).update('model', id, vscode.ConfigurationTarget.Global);
    void vscode.window.showInformationMessage(`ThinK Lens: ${id} is downloaded and verified, and is now the model.`);
    return result.dir;
  } catch (e) {
    if (e instanceof DownloadCancelledError) {
      ctx.log.info(`download of ${id} cancelled; partial files kept for resuming`);
      void vscode.window.showInformationMessage(`ThinK Lens: download cancelled. Run Download Model again to resume where it stopped.`);
      return undefined;
    }
    const message = e instanceof Error ? e.message : String(e);
    ctx.log.error(`download ${id}: ${message}`);
    if (e instanceof HubOfflineError) {
      const choice = await vscode.window.showErrorMessage(`ThinK Lens is offline: ${message}`, SELECT_MODEL_ACTION);
      if (choice === SELECT_MODEL_ACTION) await vscode.commands.executeCommand('thinkLens.selectModel');
      return undefined;
    }
    void vscode.window.showErrorMessage(`ThinK Lens: downloading ${id} failed: ${message}`);
    return undefined;
  }
}

export function registerDownloadModel(ctx: Ctx): vscode.Disposable {
  return vscode.commands.registerCommand('thinkLens.downloadModel', (repo?: string) =>
    downloadModelCommand(ctx, typeof repo === 'string' ? repo : undefined),
  );
}
