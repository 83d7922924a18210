// "ThinK Lens: Select Model": one QuickPick for every way to get a model: download one from the
// Hugging Face Hub (the Download Model flow, DEFAULT_HUB_MODEL proposed), a local Hugging Face
// folder (the Select Model Folder flow), a .gguf file, or one of the GGUF models that Ollama and
// LM Studio already downloaded on this machine (core/localModels.ts; entries the scan skipped are
// logged with why). A chosen file is checked (src/modelFolder.ts: GGUF magic, version,
// architecture) and stored in `thinkLens.model`, user settings, as the folder flow does.
import * as vscode from 'vscode';
import type { Ctx } from '../ctx';
import type { LocalModel } from '../../core/localModels';
import { DEFAULT_HUB_MODEL } from '../../core/defaultModel';
import { formatBytes } from '../../core/numberFormat';
import { checkGgufFile, describeProblems } from '../modelFolder';
import { pickAndStore, storeModel } from './selectModelFolder';

export const PICK_DOWNLOAD = 'Download from the Hugging Face Hub…';
export const PICK_FOLDER = 'Local model folder…';
export const PICK_GGUF = 'GGUF file…';
const SELECT_ANOTHER_FILE_ACTION = 'Select Another File';

const SOURCE_NAMES: Record<LocalModel['source'], string> = { ollama: 'Ollama', lmstudio: 'LM Studio' };

interface ModelPick extends vscode.QuickPickItem {
  /** What choosing the item does; resolves with the model now configured, or undefined. */
  run?: () => Thenable<string | undefined>;
}

/** The picker's items: the three ways to name a model, then the models found on this machine. */
function modelPicks(ctx: Ctx): ModelPick[] {
  const scan = ctx.findLocalModels();
  for (const s of scan.skipped) ctx.log.info(`local models: skipped ${s.where}: ${s.why}`);
  ctx.log.info(`local models: ${scan.models.length} GGUF file${scan.models.length === 1 ? '' : 's'} from Ollama and LM Studio`);
  const current = ctx.modelSource();
  const picks: ModelPick[] = [
    {
      label: PICK_DOWNLOAD,
      description: `${DEFAULT_HUB_MODEL} or another repo`,
      detail: 'Llama, Mistral, Qwen2 or Qwen3 with safetensors weights; downloaded into the extension\'s storage and verified',
      run: () => vscode.commands.executeCommand<string | undefined>('thinkLens.downloadModel'),
    },
    {
      label: PICK_FOLDER,
      description: 'config.json, *.safetensors, tokenizer.json',
      run: () => vscode.commands.executeCommand<string | undefined>('thinkLens.selectModelFolder'),
    },
    { label: PICK_GGUF, description: 'a llama.cpp model file (.gguf)', run: () => selectGgufFile(ctx) },
  ];
  if (scan.models.length) picks.push({ label: 'Downloaded by Ollama and LM Studio', kind: vscode.QuickPickItemKind.Separator });
  for (const m of scan.models) {
    const inUse = current.kind !== 'none' && current.kind !== 'hub' && current.dir === m.path;
    picks.push({
      label: m.name,
      description: `${SOURCE_NAMES[m.source]} · ${formatBytes(m.bytes)}${inUse ? ' · in use' : ''}`,
      detail: m.path,
      run: () => useLocalModel(ctx, m),
    });
  }
  return picks;
}

/** The command. Returns the model now configured (folder or file; for a download its folder), or undefined. */
export async function selectModel(ctx: Ctx): Promise<string | undefined> {
  const pick = await vscode.window.showQuickPick(modelPicks(ctx), {
    title: 'ThinK Lens: Select Model',
    placeHolder: 'Download a model, select a folder or a GGUF file, or use one Ollama or LM Studio downloaded',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  return pick?.run?.();
}

/** A model found by the scan: checked again (version, architecture) before it is stored. */
async function useLocalModel(ctx: Ctx, m: LocalModel): Promise<string | undefined> {
  const check = await checkGgufFile(m.path);
  if (check.ok) return storeModel(ctx, check, `${m.name} (${SOURCE_NAMES[m.source]})`);
  const message = describeProblems(check);
  ctx.log.warn(message);
  void vscode.window.showErrorMessage(message);
  return undefined;
}

/** "GGUF file…": an open dialog for .gguf files; a file that is not a usable GGUF is explained, and another can be chosen. */
function selectGgufFile(ctx: Ctx): Promise<string | undefined> {
  return pickAndStore(ctx, {
    dialog: { canSelectFiles: true, canSelectFolders: false, filters: { 'GGUF model': ['gguf'] }, title: 'Select a GGUF model file (llama.cpp format)' },
    check: checkGgufFile,
    again: SELECT_ANOTHER_FILE_ACTION,
  });
}

export function registerSelectModel(ctx: Ctx): vscode.Disposable {
  return vscode.commands.registerCommand('thinkLens.selectModel', () => selectModel(ctx).catch((e) => ctx.reportError('Select Model', e)));
}
