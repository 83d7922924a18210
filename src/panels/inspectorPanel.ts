// The Cache Inspector panel (host side). Commands and the extension entry use it like this:
//
//   context.subscriptions.push(InspectorPanel.registerSerializer(context.extensionUri)); // at activation
//   const panel = InspectorPanel.createOrShow(context.extensionUri);
//   panel.post({ type: 'state', state, model, device, think, memoryBudgetMb });
//   panel.post({ type: 'progress', progress });  panel.post({ type: 'masks', masks });
//   panel.onDidReceiveMessage((m) => ...);       // InspectorOutMessage: 'ready' | 'selectHead'
//   InspectorPanel.current?.post(...)            // forward runtime notifications when it is open
//
// The inspector shows only the latest state, so instead of queueing every message the panel keeps
// that state with the webview's own reducer (core/inspectorState.ts) and replays the messages that
// rebuild it (`toPersisted(state).last`) whenever the webview (re)loads: after creation, after VS
// Code restores it on restart (the serializer; the webview also restores itself from setState),
// and when a hidden panel is shown again (it is not retained while hidden; it needs no memory then).
// package.json needs "onWebviewPanel:thinkLens.cacheInspector" in activationEvents for the restore.

import * as vscode from 'vscode';
import { applyInspectorMessage, EMPTY_INSPECTOR_STATE, type InspectorState, toPersisted } from '../../core/inspectorState';
import type { InspectorInMessage, InspectorOutMessage } from '../../core/protocol/webview';
import { isIndex, isRecord, PanelChannel } from './panelChannel';
import { buildWebviewHtml, webviewOptions } from './webviewHtml';

export function parseInspectorOutMessage(raw: unknown): InspectorOutMessage | undefined {
  if (!isRecord(raw)) return undefined;
  if (raw.type === 'ready') return { type: 'ready' };
  if (raw.type === 'selectHead' && isIndex(raw.layer) && isIndex(raw.head)) return { type: 'selectHead', layer: raw.layer, head: raw.head };
  return undefined;
}

export class InspectorPanel implements vscode.Disposable {
  static readonly viewType = 'thinkLens.cacheInspector';
  private static instance: InspectorPanel | undefined;

  static get current(): InspectorPanel | undefined {
    return InspectorPanel.instance;
  }

  static createOrShow(extensionUri: vscode.Uri, column: vscode.ViewColumn = vscode.ViewColumn.Beside): InspectorPanel {
    if (InspectorPanel.instance) {
      InspectorPanel.instance.panel.reveal(column, true);
      return InspectorPanel.instance;
    }
    const panel = vscode.window.createWebviewPanel(InspectorPanel.viewType, 'ThinK Lens: Cache Inspector', { viewColumn: column, preserveFocus: true }, webviewOptions(extensionUri));
    InspectorPanel.instance = new InspectorPanel(panel, extensionUri);
    return InspectorPanel.instance;
  }

  /** Takes over a panel VS Code restored after a reload. */
  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri): InspectorPanel {
    InspectorPanel.instance?.dispose();
    panel.webview.options = webviewOptions(extensionUri);
    InspectorPanel.instance = new InspectorPanel(panel, extensionUri);
    return InspectorPanel.instance;
  }

  /** Lets VS Code bring the inspector back after a window reload. Register once, at activation. */
  static registerSerializer(extensionUri: vscode.Uri): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(InspectorPanel.viewType, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel): Promise<void> {
        InspectorPanel.revive(panel, extensionUri);
      },
    });
  }

  private readonly channel: PanelChannel<InspectorInMessage, InspectorOutMessage>;
  /** What the webview shows (its selected head aside): replayed when it (re)loads. */
  private state: InspectorState = EMPTY_INSPECTOR_STATE;
  private readonly disposeEmitter = new vscode.EventEmitter<void>();
  private readonly subscriptions: vscode.Disposable[] = [];
  private disposed = false;

  readonly onDidReceiveMessage: vscode.Event<InspectorOutMessage>;
  readonly onDidDispose = this.disposeEmitter.event;

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
  ) {
    this.channel = new PanelChannel(panel, parseInspectorOutMessage);
    this.onDidReceiveMessage = this.channel.onDidReceiveMessage;
    this.subscriptions.push(
      this.channel.onDidBecomeReady(() => {
        for (const m of toPersisted(this.state).last ?? []) void this.channel.post(m);
      }),
      panel.onDidChangeViewState(() => {
        // Not retained while hidden: the document is dropped and reloads (then says 'ready') on show.
        if (!panel.visible) this.channel.markNotReady();
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    panel.webview.html = buildWebviewHtml(panel.webview, extensionUri, 'inspector');
  }

  /** Applies `message` to the panel's state and delivers it if the webview is listening. */
  post(message: InspectorInMessage): Promise<boolean> {
    if (this.disposed) return Promise.resolve(false);
    this.state = applyInspectorMessage(this.state, message);
    return this.channel.ready ? this.channel.post(message) : Promise.resolve(true);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (InspectorPanel.instance === this) InspectorPanel.instance = undefined;
    for (const d of this.subscriptions.splice(0)) d.dispose();
    this.channel.dispose();
    this.panel.dispose();
    this.disposeEmitter.fire();
    this.disposeEmitter.dispose();
  }
}
