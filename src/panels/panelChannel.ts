// The typed message channel between a WebviewPanel and its webview script, shared by AnswerPanel
// and InspectorPanel:
// - messages posted before the webview script is listening are held until it says 'ready'
//   (a freshly created panel loads asynchronously; posting right away would lose them);
// - whatever the webview sends is checked against the protocol before anyone sees it (the
//   webview renders model output, so it is not trusted to send well-formed requests).

import * as vscode from 'vscode';

export class PanelChannel<In, Out extends { type: string }> implements vscode.Disposable {
  private listening = false;
  private readonly pending: In[] = [];
  private readonly received = new vscode.EventEmitter<Out>();
  private readonly readyEmitter = new vscode.EventEmitter<void>();
  private readonly subscriptions: vscode.Disposable[] = [];

  /** Every valid message from the webview, 'ready' included. */
  readonly onDidReceiveMessage = this.received.event;
  /** Fires each time the webview script (re)starts and asks for its data. */
  readonly onDidBecomeReady = this.readyEmitter.event;

  constructor(
    private readonly panel: vscode.WebviewPanel,
    parse: (raw: unknown) => Out | undefined,
  ) {
    this.subscriptions.push(
      panel.webview.onDidReceiveMessage((raw: unknown) => {
        const message = parse(raw);
        if (!message) return;
        if (message.type === 'ready') {
          this.listening = true;
          for (const m of this.pending.splice(0)) void this.send(m);
          this.readyEmitter.fire();
        }
        this.received.fire(message);
      }),
    );
  }

  /** Sends now when the webview is listening, else queues until it is. Resolves false once disposed. */
  post(message: In): Promise<boolean> {
    if (!this.listening) {
      this.pending.push(message);
      return Promise.resolve(true);
    }
    return this.send(message);
  }

  /** The webview's document is about to be replaced (new html, or a hidden panel that is not retained). */
  markNotReady(): void {
    this.listening = false;
  }

  /** Whether the webview script has said 'ready' since it was last (re)loaded. */
  get ready(): boolean {
    return this.listening;
  }

  private async send(message: In): Promise<boolean> {
    try {
      return await this.panel.webview.postMessage(message);
    } catch {
      return false; // disposed between the check and the post: the panel is gone, nothing to deliver
    }
  }

  dispose(): void {
    this.pending.length = 0;
    for (const d of this.subscriptions.splice(0)) d.dispose();
    this.received.dispose();
    this.readyEmitter.dispose();
  }
}

/** Protocol checks shared by the two panels' parsers. */
export function isRecord(raw: unknown): raw is Record<string, unknown> {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw);
}

export function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}
