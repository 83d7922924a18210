// Activates the real extension (src/main.ts) against the vscode mock, with a temporary global
// storage and, optionally, a temporary workspace of real files. The runtime it starts is the real
// one from the source tree (src/bootstrap.ts prefers sources outside Production mode).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mock, type MockExtensionContext } from './vscode';
import { activate, deactivate, type ThinkLensApi } from '../../src/main';
import type { CtxDeps } from '../../src/ctx';
import type * as vscode from 'vscode';

export interface Harness {
  api: ThinkLensApi;
  context: MockExtensionContext;
  workspace: string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  files?: Record<string, string>;
  settings?: Record<string, unknown>;
  trusted?: boolean;
  /** Runs after the mock is reset and before activation: script the user's answers here. */
  script?: () => void;
  /** Handed to activate (e.g. where Select Model looks for Ollama's and LM Studio's models). */
  deps?: CtxDeps;
}

export async function startExtension(opts: HarnessOptions = {}): Promise<Harness> {
  mock.reset();
  opts.script?.();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tl-ext-'));
  const workspace = path.join(tmp, 'ws');
  fs.mkdirSync(workspace);
  for (const [rel, text] of Object.entries(opts.files ?? {})) {
    fs.mkdirSync(path.dirname(path.join(workspace, rel)), { recursive: true });
    fs.writeFileSync(path.join(workspace, rel), text);
  }
  if (opts.files) mock.setWorkspaceFolders([workspace]);
  mock.setTrusted(opts.trusted ?? true);
  for (const [k, v] of Object.entries(opts.settings ?? {})) mock.setConfig(k, v);
  const context = mock.createExtensionContext({ globalStorage: path.join(tmp, 'global') });
  const api = await activate(context as unknown as vscode.ExtensionContext, opts.deps);
  return {
    api,
    context,
    workspace,
    async close() {
      await deactivate();
      for (const d of context.subscriptions.splice(0)) d.dispose();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** The commands the extension registers (and package.json contributes). */
export const EXTENSION_COMMANDS = [
  'thinkLens.askAboutCodebase',
  'thinkLens.summarizeFile',
  'thinkLens.openCacheInspector',
  'thinkLens.selectModel',
  'thinkLens.selectModelFolder',
  'thinkLens.downloadModel',
  'thinkLens.restartRuntime',
  'thinkLens.setRemoteApiKey',
];
