// A typed view of the API VS Code injects into webviews. Webview code never imports 'vscode';
// this is its only channel to the extension host, typed with the messages of core/protocol.

export interface VsCodeApi<Out, State> {
  postMessage(message: Out): void;
  getState(): State | undefined;
  setState(state: State): void;
}

// Injected by VS Code (and by the test harness) as a global; it may be called only once per page.
declare function acquireVsCodeApi(): { postMessage(m: unknown): void; getState(): unknown; setState(s: unknown): void };

let api: VsCodeApi<unknown, unknown> | undefined;

export function vscodeApi<Out, State>(): VsCodeApi<Out, State> {
  if (!api) {
    if (typeof acquireVsCodeApi !== 'function') throw new Error('webview: acquireVsCodeApi is not available (not running inside VS Code?)');
    const raw = acquireVsCodeApi();
    api = {
      postMessage: (m) => raw.postMessage(m),
      getState: () => raw.getState() ?? undefined,
      setState: (s) => raw.setState(s),
    };
  }
  return api as VsCodeApi<Out, State>;
}

/**
 * Calls `handler` for every message from the host whose `type` is one of `types`; anything else
 * (other extensions' or VS Code's own messages, malformed data) is ignored.
 */
export function onHostMessage<In extends { type: string }>(types: ReadonlyArray<In['type']>, handler: (message: In) => void): () => void {
  const accepted = new Set<string>(types);
  const listener = (event: MessageEvent): void => {
    const data: unknown = event.data;
    if (typeof data !== 'object' || data === null) return;
    const type = (data as { type?: unknown }).type;
    if (typeof type !== 'string' || !accepted.has(type)) return;
    handler(data as In);
  };
  window.addEventListener('message', listener);
  return () => window.removeEventListener('message', listener);
}
