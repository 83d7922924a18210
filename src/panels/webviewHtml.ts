// The HTML shell both webviews load, and the webview options that go with it.
//
//   webviewOptions(extensionUri)              -> enableScripts + narrow localResourceRoots
//   buildWebviewHtml(webview, extensionUri, v) -> the page for view 'answer' | 'inspector',
//                                                with a fresh nonce on every call
//   renderWebviewHtml(parts) / contentSecurityPolicy(cspSource, nonce)
//                                              -> the pure string parts (used by the browser test
//                                                 harness, which serves the same page over http)
//
// The page is only a shell: a CSP meta tag, the stylesheets, an empty #app and one nonce'd script
// (dist/media/<view>.js) that builds the DOM. Nothing here interpolates model output.

import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';

export type WebviewName = 'answer' | 'inspector';

const TITLES: Record<WebviewName, string> = { answer: 'ThinK Lens Answer', inspector: 'ThinK Lens Cache Inspector' };

/** Folders a webview may load from: the built scripts and the stylesheets, nothing else. */
export function localResourceRoots(extensionUri: vscode.Uri): vscode.Uri[] {
  return [vscode.Uri.joinPath(extensionUri, 'dist', 'media'), vscode.Uri.joinPath(extensionUri, 'media')];
}

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, enableCommandUris: false, localResourceRoots: localResourceRoots(extensionUri) };
}

/** 128 random bits, base64 (a valid CSP nonce-source). A new one for every page load. */
export function makeNonce(): string {
  return randomBytes(16).toString('base64');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return `default-src 'none'; script-src 'nonce-${nonce}'; style-src ${cspSource} 'nonce-${nonce}'; img-src ${cspSource} data:`;
}

export interface WebviewHtmlParts {
  view: WebviewName;
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUris: string[];
}

export function renderWebviewHtml({ view, cspSource, nonce, scriptUri, styleUris }: WebviewHtmlParts): string {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(nonce)) throw new Error(`webviewHtml: nonce ${JSON.stringify(nonce)} is not a base64 value`);
  const styles = styleUris.map((href) => `    <link rel="stylesheet" nonce="${nonce}" href="${escapeAttr(href)}">`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(cspSource, nonce))}">
    <meta name="viewport" content="width=device-width, initial-scale=1">
${styles}
    <title>${TITLES[view]}</title>
  </head>
  <body data-view="${view}">
    <div id="app"></div>
    <script nonce="${nonce}" src="${escapeAttr(scriptUri)}"></script>
  </body>
</html>
`;
}

/** The page for `view`, with resource URIs from `webview.asWebviewUri` and a fresh nonce. */
export function buildWebviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, view: WebviewName): string {
  const uri = (...segments: string[]): string => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...segments)).toString();
  return renderWebviewHtml({
    view,
    cspSource: webview.cspSource,
    nonce: makeNonce(),
    scriptUri: uri('dist', 'media', `${view}.js`),
    styleUris: [uri('media', 'webview.css'), uri('media', `${view}.css`)],
  });
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
