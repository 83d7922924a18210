// "ThinK Lens: Restart Runtime": a fresh runtime process with a clean crash history (also the way
// out after automatic restarts stopped). The model is loaded again by the next command that needs it.
import * as vscode from 'vscode';
import type { Ctx } from '../ctx';

export function registerRestartRuntime(ctx: Ctx): vscode.Disposable {
  return vscode.commands.registerCommand('thinkLens.restartRuntime', async () => {
    try {
      const client = await ctx.supervisor.restart();
      ctx.log.info(`runtime restarted by the user (pid ${client.pid})`);
      void vscode.window.showInformationMessage('ThinK Lens: runtime restarted.');
    } catch (e) {
      await ctx.reportError('Restart Runtime', e);
    }
  });
}
