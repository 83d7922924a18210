// The Answer panel (host side). Commands use it like this:
//
//   const panel = AnswerPanel.createOrShow(context.extensionUri);   // one panel, reused
//   panel.onDidReceiveMessage((m) => ...);  // AnswerOutMessage: 'ready' | 'stop' | 'ask' | 'openCitation'
//   panel.onDidDispose(() => ...);          // the user closed it: cancel what it was showing
//   panel.post({ type: 'question', question, turn: 1 });
//   panel.post({ type: 'context', summary }); ... 'notice' / 'token' / 'progress' / 'masks' / 'done' / 'error'
//
// A 'question' with turn 1 starts a new conversation (the webview clears its transcript); turn 2,
// 3, ... are follow-ups appended below. Each turn ends with 'done' (finishReason 'cancelled' reads
// "Stopped") or 'error'. Stop and follow-ups only post messages: cancelling and asking is the
// command's job.
//
// Messages posted before the webview has loaded are queued and delivered in order. What the webview
// sends back is validated (an `openCitation` path is a non-empty string and its line a positive
// integer, but it is still a path the model wrote: the command must resolve it inside the workspace).
// The panel keeps its webview alive while hidden, so an answer streaming into a background tab
// is complete when the user comes back.

import * as vscode from 'vscode';
import type { AnswerInMessage, AnswerOutMessage } from '../../core/protocol/webview';
import { isRecord, PanelChannel } from './panelChannel';
import { buildWebviewHtml, webviewOptions } from './webviewHtml';

/** Long enough for any real question or path; anything larger is not a message our webview sends. */
const MAX_QUESTION = 20_000;
const MAX_PATH = 4_096;

export function parseAnswerOutMessage(raw: unknown): AnswerOutMessage | undefined {
  if (!isRecord(raw)) return undefined;
  switch (raw.type) {
    case 'ready':
    case 'stop':
      return { type: raw.type };
    case 'ask': {
      const q = typeof raw.question === 'string' ? raw.question.trim() : '';
      return q && q.length <= MAX_QUESTION ? { type: 'ask', question: q } : undefined;
    }
    case 'openCitation': {
      const { path, line } = raw;
      if (typeof path !== 'string' || path.length === 0 || path.length > MAX_PATH || path.includes('\0')) return undefined;
      if (typeof line !== 'number' || !Number.isInteger(line) || line < 1) return undefined;
      return { type: 'openCitation', path, line };
    }
    default:
      return undefined;
  }
}

export class AnswerPanel implements vscode.Disposable {
  static readonly viewType = 'thinkLens.answer';
  private static instance: AnswerPanel | undefined;

  /** The open panel, if any. */
  static get current(): AnswerPanel | undefined {
    return AnswerPanel.instance;
  }

  /** Reveals the open panel, or opens one (beside the editor by default). */
  static createOrShow(extensionUri: vscode.Uri, column: vscode.ViewColumn = vscode.ViewColumn.Beside): AnswerPanel {
    if (AnswerPanel.instance) {
      AnswerPanel.instance.panel.reveal(column, true);
      return AnswerPanel.instance;
    }
    const panel = vscode.window.createWebviewPanel(AnswerPanel.viewType, 'ThinK Lens: Answer', { viewColumn: column, preserveFocus: true }, {
      ...webviewOptions(extensionUri),
      retainContextWhenHidden: true,
    });
    AnswerPanel.instance = new AnswerPanel(panel, extensionUri);
    return AnswerPanel.instance;
  }

  private readonly channel: PanelChannel<AnswerInMessage, AnswerOutMessage>;
  private readonly disposeEmitter = new vscode.EventEmitter<void>();
  private disposed = false;

  readonly onDidReceiveMessage: vscode.Event<AnswerOutMessage>;
  readonly onDidDispose = this.disposeEmitter.event;

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
  ) {
    this.channel = new PanelChannel(panel, parseAnswerOutMessage);
    this.onDidReceiveMessage = this.channel.onDidReceiveMessage;
    panel.webview.html = buildWebviewHtml(panel.webview, extensionUri, 'answer');
    panel.onDidDispose(() => this.dispose());
  }

  /** Delivers `message` to the webview (queued until it has loaded). False once the panel is closed. */
  post(message: AnswerInMessage): Promise<boolean> {
    return this.disposed ? Promise.resolve(false) : this.channel.post(message);
  }

  /** Shows the question in the tab title, so several questions are told apart in the tab bar. */
  setTitle(question: string): void {
    if (this.disposed) return;
    const short = question.replace(/\s+/g, ' ').trim();
    this.panel.title = short ? `ThinK Lens: ${short.length > 40 ? `${short.slice(0, 39)}…` : short}` : 'ThinK Lens: Answer';
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (AnswerPanel.instance === this) AnswerPanel.instance = undefined;
    this.channel.dispose();
    this.panel.dispose();
    this.disposeEmitter.fire();
    this.disposeEmitter.dispose();
  }
}
