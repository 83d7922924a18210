// "ThinK Lens: Open Cache Inspector", plus what keeps an open (or restored) Inspector live: the
// runtime state, every progress notification and every mask set are forwarded to it while it is
// open. Opening it shows the latest figures at once (the Inspector replays its state on load).
import * as vscode from 'vscode';
import { toPersisted } from '../../core/inspectorState';
import type { Ctx } from '../ctx';
import { InspectorPanel } from '../panels/inspectorPanel';

export function openCacheInspector(ctx: Ctx): InspectorPanel {
  const panel = InspectorPanel.createOrShow(ctx.extension.extensionUri);
  void panel.post(ctx.inspectorState());
  // Opened after (or between) generations: show the last figures (prefill's too) rather than empty fields.
  for (const m of toPersisted(ctx.inspector).last ?? []) void panel.post(m);
  return panel;
}

export function registerOpenCacheInspector(ctx: Ctx): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand('thinkLens.openCacheInspector', () => {
      try {
        openCacheInspector(ctx);
      } catch (e) {
        void ctx.reportError('Open Cache Inspector', e);
      }
    }),
    InspectorPanel.registerSerializer(ctx.extension.extensionUri),
    new vscode.Disposable(() => InspectorPanel.current?.dispose()),
    ctx.onDidChangeRuntime(() => void InspectorPanel.current?.post(ctx.inspectorState())),
    ctx.onProgress((progress) => void InspectorPanel.current?.post({ type: 'progress', progress })),
    ctx.onMasks((e) => void InspectorPanel.current?.post({ type: 'masks', masks: e.masks })),
  );
}
