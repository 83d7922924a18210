// Extension entry: activate builds the Ctx and registers one command per file in src/commands/,
// and, where this VS Code has the APIs, the chat model provider and `@thinklens` (src/chat/);
// deactivate disposes everything, the runtime process included.
import * as vscode from 'vscode';
import { Ctx, NoModelError, type CtxDeps } from './ctx';
import { registerAskAboutCodebase } from './commands/askAboutCodebase';
import { registerSummarizeFile } from './commands/summarizeFile';
import { registerOpenCacheInspector } from './commands/openCacheInspector';
import { registerSelectModelFolder } from './commands/selectModelFolder';
import { registerSelectModel } from './commands/selectModel';
import { registerDownloadModel } from './commands/downloadModel';
import { registerRestartRuntime } from './commands/restartRuntime';
import { registerSetRemoteApiKey } from './commands/setRemoteApiKey';
import { registerChatModelProvider } from './chat/provider';
import { registerChatParticipant } from './chat/participant';

let current: Ctx | undefined;

/** What activate returns (VS Code hands it to other extensions; our tests use it). */
export interface ThinkLensApi {
  ctx: Ctx;
}

export async function activate(context: vscode.ExtensionContext, deps?: CtxDeps): Promise<ThinkLensApi> {
  const ctx = new Ctx(context, deps);
  current = ctx;
  context.subscriptions.push(
    registerAskAboutCodebase(ctx),
    registerSummarizeFile(ctx),
    registerOpenCacheInspector(ctx),
    registerSelectModel(ctx),
    registerSelectModelFolder(ctx),
    registerDownloadModel(ctx),
    registerRestartRuntime(ctx),
    registerSetRemoteApiKey(ctx),
  );
  // Chat: each only where the API exists (the provider needs VS Code 1.104+); else nothing, commands as ever.
  for (const d of [registerChatModelProvider(ctx), registerChatParticipant(ctx)]) if (d) context.subscriptions.push(d);
  ctx.log.info(`activated (${context.extensionMode === vscode.ExtensionMode.Production ? 'production' : 'development'}), workspace ${vscode.workspace.isTrusted ? 'trusted' : 'in Restricted Mode'}`);
  // Nothing is started here: the runtime and the model load on the first command that needs them.
  // Without a model, say how to get one (without blocking activation on the answer).
  if (ctx.config.engine === 'local' && ctx.modelSource().kind === 'none') {
    ctx.modelDir().catch((e) => {
      if (e instanceof NoModelError) void ctx.offerModel(e);
    });
  }
  return { ctx };
}

export async function deactivate(): Promise<void> {
  const ctx = current;
  current = undefined;
  await ctx?.dispose();
}
