// "ThinK Lens: Set Remote Engine API Key": stores the key a remote engine (thinkLens.engine = a
// URL) is sent as `Authorization: Bearer <key>`, in VS Code's SecretStorage (never in settings);
// with a key already stored, it can also delete it.
import * as vscode from 'vscode';
import { REMOTE_API_KEY_SECRET, type Ctx } from '../ctx';

export const SET_KEY = 'Set a new API key';
export const DELETE_KEY = 'Delete the stored API key';

export function registerSetRemoteApiKey(ctx: Ctx): vscode.Disposable {
  return vscode.commands.registerCommand('thinkLens.setRemoteApiKey', async () => {
    try {
      const secrets = ctx.extension.secrets;
      if (await secrets.get(REMOTE_API_KEY_SECRET)) {
        const choice = await vscode.window.showQuickPick([SET_KEY, DELETE_KEY], { title: 'ThinK Lens: Remote Engine API Key', placeHolder: 'A key is stored' });
        if (!choice) return;
        if (choice === DELETE_KEY) {
          await secrets.delete(REMOTE_API_KEY_SECRET);
          ctx.log.info('remote: API key deleted');
          void vscode.window.showInformationMessage('ThinK Lens: the remote engine API key was deleted.');
          return;
        }
      }
      const key = await vscode.window.showInputBox({
        title: 'ThinK Lens: Remote Engine API Key',
        prompt: 'Sent as "Authorization: Bearer <key>" to the server thinkLens.engine names; kept in VS Code\'s secret storage.',
        password: true,
        ignoreFocusOut: true,
      });
      if (!key?.trim()) return;
      await secrets.store(REMOTE_API_KEY_SECRET, key.trim());
      ctx.log.info('remote: API key stored');
      void vscode.window.showInformationMessage('ThinK Lens: the remote engine API key was stored.');
    } catch (e) {
      await ctx.reportError('Set Remote Engine API Key', e);
    }
  });
}
