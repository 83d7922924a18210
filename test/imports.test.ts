// The import rules between the layers (test/support/importRules.ts): src/ and runtime/ never import
// each other, core/ imports only core/, media/ only media/, core/ and markdown-it, and 'vscode'
// appears only in src/ and the tests that drive it. Shown to catch each kind of violation on
// synthetic trees, then held on the real one.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { importViolations, moduleSpecifiers, type SourceFile } from './support/importRules';

const root = resolve(__dirname, '..');
const SOURCE = /\.(ts|mts|cts|mjs|cjs|js)$/;

function sources(dir: string): SourceFile[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    const rel = relative(root, p).split(sep).join('/');
    if (rel === 'test/fixtures' || name === 'node_modules') return []; // workspace content, not our code
    if (statSync(p).isDirectory()) return sources(p);
    return SOURCE.test(name) ? [{ path: rel, text: readFileSync(p, 'utf8') }] : [];
  });
}

/** The rules each synthetic file breaks, as "file: specifier". */
const broken = (files: SourceFile[]) => importViolations(files).map((v) => `${v.file}: ${v.specifier}`);

test('moduleSpecifiers: static, type-only, re-exports, import(), require() and new URL(…, import.meta.url); not comments or strings', () => {
  const text = [
    "import a from './a';",
    "import type { B } from '../core/b';",
    "export { c } from './c';",
    "export * from './d';",
    "const e = await import('./e');",
    "const f = require('f-package');",
    "type G = typeof import('./g');",
    "const h = new URL('../runtime/h.js', import.meta.url);",
    "// import x from './commented';",
    "const s = 'import y from \"./in-a-string\"';",
  ].join('\n');
  assert.deepEqual(moduleSpecifiers(text).sort(), ['./a', '../core/b', './c', './d', './e', 'f-package', './g', '../runtime/h.js'].sort());
});

test('src/ <-> runtime/: every form of import either way is a violation', () => {
  assert.deepEqual(
    broken([
      { path: 'src/a.ts', text: "import { Engine } from '../runtime/engine/engine';" },
      { path: 'src/b.ts', text: "import type { Rpc } from '../runtime/host/rpc';" },
      { path: 'src/c/d.ts', text: "const m = await import('../../runtime/cli/main');" },
      { path: 'src/e.ts', text: "const w = new URL('../runtime/host/engineWorker.ts', import.meta.url);" },
      { path: 'runtime/host/a.ts', text: "import { config } from '../../src/config';" },
      { path: 'runtime/b.ts', text: "const s = require('../src/supervisor');" },
      { path: 'runtime/c.ts', text: "export * from '../src/ctx';" },
    ]),
    [
      'src/a.ts: ../runtime/engine/engine',
      'src/b.ts: ../runtime/host/rpc',
      'src/c/d.ts: ../../runtime/cli/main',
      'src/e.ts: ../runtime/host/engineWorker.ts',
      'runtime/host/a.ts: ../../src/config',
      'runtime/b.ts: ../src/supervisor',
      'runtime/c.ts: ../src/ctx',
    ],
  );
});

test("'vscode' outside src/ and its tests is a violation", () => {
  assert.deepEqual(
    broken([
      { path: 'runtime/host/main.ts', text: "import * as vscode from 'vscode';" },
      { path: 'core/hub.ts', text: "import type { Uri } from 'vscode';" },
      { path: 'media/answer/main.ts', text: "const vscode = require('vscode');" },
      { path: 'scripts/build.mjs', text: "await import('vscode');" },
      { path: 'test/runtime/engine.test.ts', text: "import { window } from 'vscode';" },
      { path: 'src/main.ts', text: "import * as vscode from 'vscode';" },
      { path: 'test/src/commands.test.ts', text: "import * as vscode from 'vscode';" },
      { path: 'test/support/extensionHarness.ts', text: "import * as vscode from 'vscode';" },
      { path: 'test/integration/suite/index.cjs', text: "const vscode = require('vscode');" },
    ]),
    ['runtime/host/main.ts: vscode', 'core/hub.ts: vscode', 'media/answer/main.ts: vscode', 'scripts/build.mjs: vscode', 'test/runtime/engine.test.ts: vscode'],
  );
});

test('core/ imports only core/; media/ only media/, core/ and markdown-it; scripts/ not src/ or media/; nothing shipped imports test/', () => {
  assert.deepEqual(
    broken([
      { path: 'core/a.ts', text: "import { x } from '../src/x';\nimport { y } from '../runtime/y';\nimport { z } from '../media/z';\nimport { ok } from './context/ok';\nimport ignore from 'ignore';" },
      { path: 'core/b.ts', text: "import { helper } from '../test/support/helper';" },
      { path: 'media/answer/view.ts', text: "import MarkdownIt from 'markdown-it';\nimport { fmt } from '../../core/numberFormat';\nimport { s } from '../shared/s';" },
      { path: 'media/answer/main.ts', text: "import { readFileSync } from 'node:fs';\nimport { p } from '../../src/panels/p';\nimport { e } from '../../runtime/e';\nimport { post } from 'some-package';" },
      { path: 'scripts/bench.ts', text: "import { Engine } from '../runtime/engine/engine';\nimport { c } from '../core/c';\nimport { s } from '../src/supervisor';\nimport { m } from '../media/m';" },
      { path: 'test/media/view.test.ts', text: "import { anything } from '../../src/x';\nimport { r } from '../../runtime/r';\nimport { fs } from 'node:fs';" },
    ]),
    [
      'core/a.ts: ../src/x',
      'core/a.ts: ../runtime/y',
      'core/a.ts: ../media/z',
      'core/b.ts: ../test/support/helper',
      'media/answer/main.ts: node:fs',
      'media/answer/main.ts: ../../src/panels/p',
      'media/answer/main.ts: ../../runtime/e',
      'media/answer/main.ts: some-package',
      'scripts/bench.ts: ../src/supervisor',
      'scripts/bench.ts: ../media/m',
    ],
  );
});

test('the repository keeps every rule', () => {
  const files = ['core', 'src', 'runtime', 'media', 'scripts', 'test'].flatMap((d) => sources(join(root, d)));
  assert.ok(files.length > 150, `expected the whole tree, read ${files.length} files`);
  // The parser sees the real imports: src/ uses core/'s protocol, the webviews use markdown-it.
  const specs = (prefix: string) => files.filter((f) => f.path.startsWith(prefix)).flatMap((f) => moduleSpecifiers(f.text));
  assert.ok(specs('src/').some((s) => /\/core\/protocol\//.test(s)), 'src/ imports core/protocol');
  assert.ok(specs('media/').includes('markdown-it'), 'media/ imports markdown-it');
  const violations = importViolations(files);
  assert.deepEqual(violations.map((v) => `${v.file} imports ${v.specifier}: ${v.rule}`), []);
});
