// "ThinK Lens: Select Model Folder": pick a local Hugging Face model folder, check it
// (src/modelFolder.ts) and store it in `thinkLens.model` (user settings: a model is a property of
// the machine, not of one workspace). A bad folder gets a message naming each missing or bad file.
import * as vscode from 'vscode';
import type { Ctx } from '../ctx';
import { SECTION } from '../config';
import { checkModelFolder, describeProblems } from '../modelFolder';

export const SELECT_ANOTHER_ACTION = 'Select Another Folder';

/** Returns the folder now configured, or undefined if the user gave up. */
export async function selectModelFolder(ctx: Ctx, preset?: vscode.Uri): Promise<string | undefined> {
  let candidate = preset;
  for (;;) {
    if (!candidate) {
      const picked = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: false,
        canSelectMany: false,
        openLabel: 'Use as ThinK Lens Model',
        title: 'Select a Hugging Face model folder (config.json, *.safetensors, tokenizer.json)',
      });
      candidate = picked?.[0];
      if (!candidate) return undefined;
    }
    const check = await checkModelFolder(candidate.fsPath);
    if (check.ok) {
      await vscode.workspace.getConfiguration(SECTION).update('model', check.dir, vscode.ConfigurationTarget.Global);
      ctx.log.info(`model folder set to ${check.dir} (${check.modelType}, ${check.weightFiles.join(', ')})`);
      void vscode.window.showInformationMessage(`ThinK Lens will use the ${check.modelType} model in ${check.dir}.`);
      return check.dir;
    }
    const message = describeProblems(check);
    ctx.log.warn(message);
    const choice = await vscode.window.showErrorMessage(message, SELECT_ANOTHER_ACTION);
    if (choice !== SELECT_ANOTHER_ACTION) return undefined;
    candidate = undefined;
  }
}

export function registerSelectModelFolder(ctx: Ctx): vscode.Disposable {
  return vscode.commands.registerCommand('thinkLens.selectModelFolder', (uri?: vscode.Uri) =>
    selectModelFolder(ctx, uri instanceof vscode.Uri ? uri : undefined).catch((e) => ctx.reportError('Select Model Folder', e)),
  );
}
