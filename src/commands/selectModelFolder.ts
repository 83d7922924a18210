// "ThinK Lens: Select Model Folder": pick a local Hugging Face model folder, check it
// (src/modelFolder.ts) and store it in `thinkLens.model` (user settings: a model is a property of
// the machine, not of one workspace). A bad folder gets a message naming each missing or bad file.
// It is also what the "Local model folder…" item of Select Model (src/commands/selectModel.ts) runs.
import * as vscode from 'vscode';
import type { Ctx } from '../ctx';
import { SECTION } from '../config';
import { checkModelFolder, describeProblems, type ModelFolderCheck } from '../modelFolder';

const SELECT_ANOTHER_ACTION = 'Select Another Folder';

/**
 * Stores a checked model (folder or GGUF file) in `thinkLens.model`, user settings, and says so in
 * the log and a notification. `name` is how another tool calls it (an Ollama tag), when it has one.
 */
export async function storeModel(ctx: Ctx, check: Extract<ModelFolderCheck, { ok: true }>, name?: string): Promise<string> {
  await vscode.workspace.getConfiguration(SECTION).update('model', check.dir, vscode.ConfigurationTarget.Global);
  if (check.format === 'folder') {
    ctx.log.info(`model folder set to ${check.dir} (${check.modelType}, ${check.weightFiles.join(', ')})`);
    void vscode.window.showInformationMessage(`ThinK Lens will use the ${check.modelType} model in ${check.dir}.`);
  } else {
    const kind = check.modelType === 'gguf' ? 'GGUF' : `${check.modelType} GGUF`;
    ctx.log.info(`model file set to ${check.dir} (${name ? `${name}, ` : ''}${kind})`);
    void vscode.window.showInformationMessage(name ? `ThinK Lens will use ${name}, a ${kind} model.` : `ThinK Lens will use the ${kind} model ${check.dir}.`);
  }
  return check.dir;
}

/**
 * Asks for a folder or file with `dialog` (unless `preset` names one), checks it, and stores it; a
 * bad pick is explained and another can be made. Returns what is now configured, or undefined if
 * the user gave up.
 */
export async function pickAndStore(
  ctx: Ctx,
  o: { dialog: vscode.OpenDialogOptions; check: (path: string) => Promise<ModelFolderCheck>; again: string; preset?: vscode.Uri },
): Promise<string | undefined> {
  let candidate = o.preset;
  for (;;) {
    if (!candidate) {
      candidate = (await vscode.window.showOpenDialog({ ...o.dialog, canSelectMany: false, openLabel: 'Use as ThinK Lens Model' }))?.[0];
      if (!candidate) return undefined;
    }
    const check = await o.check(candidate.fsPath);
    if (check.ok) return storeModel(ctx, check);
    const message = describeProblems(check);
    ctx.log.warn(message);
    const choice = await vscode.window.showErrorMessage(message, o.again);
    if (choice !== o.again) return undefined;
    candidate = undefined;
  }
}

/** Returns the folder now configured, or undefined if the user gave up. */
export function selectModelFolder(ctx: Ctx, preset?: vscode.Uri): Promise<string | undefined> {
  return pickAndStore(ctx, {
    dialog: { canSelectFolders: true, canSelectFiles: false, title: 'Select a Hugging Face model folder (config.json, *.safetensors, tokenizer.json)' },
    check: checkModelFolder,
    again: SELECT_ANOTHER_ACTION,
    preset,
  });
}

export function registerSelectModelFolder(ctx: Ctx): vscode.Disposable {
  return vscode.commands.registerCommand('thinkLens.selectModelFolder', (uri?: vscode.Uri) =>
    selectModelFolder(ctx, uri instanceof vscode.Uri ? uri : undefined).catch((e) => ctx.reportError('Select Model Folder', e)),
  );
}
