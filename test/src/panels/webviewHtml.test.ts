// The HTML shell of both webviews (src/panels/webviewHtml.ts) against the mocked vscode module:
// the exact CSP, a fresh nonce per load, resources through asWebviewUri, narrow resource roots.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildWebviewHtml, contentSecurityPolicy, renderWebviewHtml, webviewOptions } from '../../../src/panels/webviewHtml';
import { MockWebview, Uri } from '../../support/vscode';

const ext = Uri.file('/opt/ext');

function parse(html: string) {
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)?.[1];
  const nonces = [...html.matchAll(/nonce="([^"]*)"/g)].map((m) => m[1]);
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)].map((m) => ({ attrs: m[1], body: m[2] }));
  const styles = [...html.matchAll(/<link rel="stylesheet" nonce="[^"]*" href="([^"]*)">/g)].map((m) => m[1]);
  return { csp, nonces, scripts, styles };
}

test('webviewHtml: the CSP is exactly default-src none + nonce script + webview styles/images', () => {
  const webview = new MockWebview();
  for (const view of ['answer', 'inspector'] as const) {
    const html = buildWebviewHtml(webview as never, ext as never, view);
    const { csp, nonces, scripts, styles } = parse(html);
    const nonce = nonces[0];
    assert.match(nonce, /^[A-Za-z0-9+/]{22}==$/, '128 random bits in base64');
    assert.equal(csp, `default-src 'none'; script-src 'nonce-${nonce}'; style-src https://*.vscode-cdn.net 'nonce-${nonce}'; img-src https://*.vscode-cdn.net data:`);
    assert.equal(csp, contentSecurityPolicy(webview.cspSource, nonce));
    assert.ok(nonces.every((n) => n === nonce), 'one nonce per page');
    assert.deepEqual(
      scripts.map((s) => [s.attrs.trim(), s.body]),
      [[`nonce="${nonce}" src="https://file+.vscode-resource.vscode-cdn.net/opt/ext/dist/media/${view}.js"`, '']],
      'one external nonce\'d script, no inline code',
    );
    assert.deepEqual(styles, [
      'https://file+.vscode-resource.vscode-cdn.net/opt/ext/media/webview.css',
      `https://file+.vscode-resource.vscode-cdn.net/opt/ext/media/${view}.css`,
    ]);
    assert.match(html, /<div id="app"><\/div>/);
  }
});

test('webviewHtml: every load gets a new nonce', () => {
  const webview = new MockWebview();
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) seen.add(parse(buildWebviewHtml(webview as never, ext as never, 'answer')).nonces[0]);
  assert.equal(seen.size, 20);
});

test('webviewHtml: scripts only, from dist/media and media alone', () => {
  const o = webviewOptions(ext as never);
  assert.equal(o.enableScripts, true);
  assert.equal(o.enableCommandUris, false, 'model output must not be able to run commands through links');
  assert.deepEqual(o.localResourceRoots?.map((u) => u.toString()), ['file:///opt/ext/dist/media', 'file:///opt/ext/media']);
});

test('webviewHtml: a bad nonce is refused and URIs are attribute-escaped', () => {
  const parts = { view: 'answer' as const, cspSource: 'https://x', scriptUri: 'https://x/a.js', styleUris: [] };
  assert.throws(() => renderWebviewHtml({ ...parts, nonce: "abc' 'unsafe-inline" }), /nonce .* is not a base64 value/);
  const html = renderWebviewHtml({ ...parts, nonce: 'abcd', scriptUri: 'https://x/a.js?q="><script>' });
  assert.ok(html.includes('src="https://x/a.js?q=&quot;&gt;&lt;script&gt;"'));
});
