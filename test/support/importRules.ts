// The repository's import rules, as a pure function over source texts (test/imports.test.ts runs
// it on synthetic trees and on the real one). Module specifiers come from TypeScript's own
// scanner (ts.preProcessFile: static and type imports, re-exports, import(), require()), plus
// `new URL('./x', import.meta.url)`; relative ones are resolved to repository paths.
//
// The layers and what each may import (docs/architecture.md):
//   core/     shared code: core/ and packages only
//   src/      the VS Code extension host: core/, src/, packages (never runtime/ or media/)
//   runtime/  the LLM runtime, a separate process: core/, runtime/, packages (never src/ or media/)
//   media/    the webviews, a browser sandbox: media/, core/ and the package 'markdown-it' only
//   scripts/  build and benchmark tools: core/, runtime/, scripts/, packages (never src/ or media/)
//   test/     anything
// 'vscode' exists only inside the extension host: src/, and the tests that drive src/ (through the
// mock, test/support/vscode.ts, or a real editor). No shipped layer imports test/.
import * as path from 'node:path';
import ts from 'typescript';

export interface SourceFile {
  /** Repository-relative, '/'-separated. */
  path: string;
  text: string;
}

export interface ImportViolation {
  file: string;
  specifier: string;
  /** What the import breaks, in words. */
  rule: string;
}

export const LAYERS = ['core', 'src', 'runtime', 'media', 'scripts', 'test'] as const;
export type Layer = (typeof LAYERS)[number];

/** The layers each layer may import by relative path. */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  core: ['core'],
  src: ['core', 'src'],
  runtime: ['core', 'runtime'],
  media: ['core', 'media'],
  scripts: ['core', 'runtime', 'scripts'],
  test: LAYERS,
};

/** The only packages media/ may import (the webviews are bundled for a browser: no Node, no vscode). */
const MEDIA_PACKAGES = ['markdown-it'];

/** Where 'vscode' may be imported: the extension host and the tests that run it. */
const VSCODE_ALLOWED = ['src/', 'test/src/', 'test/support/', 'test/integration/', 'test/e2e/'];

/** The layer a repository path belongs to, or undefined (package.json, bin/, outside the repo). */
function layerOf(file: string): Layer | undefined {
  const top = file.split('/')[0];
  return (LAYERS as readonly string[]).includes(top) ? (top as Layer) : undefined;
}

/** Every module specifier in a source file, in order of appearance. */
export function moduleSpecifiers(text: string): string[] {
  const specs = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
  for (const m of text.matchAll(/new\s+URL\(\s*(['"])([^'"]+)\1\s*,\s*import\.meta\.url\s*\)/g)) specs.push(m[2]);
  return specs;
}

/** The package a bare specifier names ('@scope/name/sub' -> '@scope/name'; 'node:fs' -> 'node:fs'). */
function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Every import in `files` that breaks a rule (none for a healthy tree). */
export function importViolations(files: readonly SourceFile[]): ImportViolation[] {
  const out: ImportViolation[] = [];
  for (const { path: file, text } of files) {
    const from = layerOf(file);
    if (!from) continue;
    for (const specifier of moduleSpecifiers(text)) {
      const bad = (rule: string) => out.push({ file, specifier, rule });
      if (specifier.startsWith('.')) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
        const to = layerOf(target);
        if (to === undefined) {
          if (from !== 'test' && from !== 'scripts' && target.startsWith('..')) bad(`${from}/ imports from outside the repository (${target})`);
          continue;
        }
        if (!MAY_IMPORT[from].includes(to)) bad(`${from}/ never imports ${to}/ (${target})`);
      } else if (specifier === 'vscode') {
        if (!VSCODE_ALLOWED.some((p) => file.startsWith(p))) bad(`'vscode' is imported only in src/ and the tests that drive it (${VSCODE_ALLOWED.join(', ')})`);
      } else if (from === 'media' && !MEDIA_PACKAGES.includes(packageName(specifier))) {
        bad(`media/ imports only media/, core/ and ${MEDIA_PACKAGES.map((p) => `'${p}'`).join(', ')} (it runs in a webview)`);
      }
    }
  }
  return out;
}
