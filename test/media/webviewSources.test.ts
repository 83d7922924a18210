// Rules the webview sources keep (media/): they run in a browser sandbox that only speaks the
// protocol, so no 'vscode' or Node imports (checked with every layer's imports in
// test/imports.test.ts); they never parse strings as HTML; and the stylesheets use theme colours
// only.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const media = resolve(__dirname, '../../media');

function files(dir: string, ext: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p, ext) : p.endsWith(ext) ? [p] : [];
  });
}

test('webview sources: nothing is parsed as HTML', () => {
  const scripts = files(media, '.ts');
  assert.ok(scripts.length >= 10, `expected the webview sources under ${media}`);
  for (const f of scripts) {
    const src = readFileSync(f, 'utf8');
    assert.doesNotMatch(src, /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|DOMParser|createContextualFragment|\beval\(|new Function\(/, relative(media, f));
  }
});

test('webview styles: theme colours only', () => {
  const sheets = files(media, '.css');
  assert.ok(sheets.length >= 3);
  for (const f of sheets) {
    // Comments may say anything; declarations may not carry a literal colour.
    const css = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
    assert.doesNotMatch(css, /#[0-9a-fA-F]{3,8}\b|\b(rgba?|hsla?|hwb|lab|lch|oklab|oklch)\(/, `${relative(media, f)} has a literal colour`);
    assert.doesNotMatch(css, /:\s*(white|black|red|green|blue|gray|grey|orange|yellow)\s*[;}]/i, `${relative(media, f)} has a named colour`);
    for (const [, name] of css.matchAll(/var\(--([\w-]+)/g)) {
      assert.ok(name.startsWith('vscode-') || ['gap', 'cell-on', 'cell-off', 'kept', 'heads', 'fill', 'mark', 'h', 'n'].includes(name), `${relative(media, f)}: var(--${name})`);
    }
  }
});
