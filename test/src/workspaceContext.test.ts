// The VS Code adapter over the in-memory vscode mock: workspace folders and exclude settings reach
// the scan, Restricted Mode reads nothing, multi-root paths are prefixed, cancellation, chunks of
// an open document.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, beforeEach, mock as nodeMock, test } from 'node:test';
import { documentChunks, gatherWorkspaceContext } from '../../src/workspaceContext';
import type { TokenCounter } from '../../core/context/pack';
import { CancellationError, CancellationTokenSource, mock, workspace } from '../support/vscode';

// The module object itself (not an import namespace copy), so spies see the adapter's calls.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fsp: typeof import('node:fs/promises') = require('node:fs/promises');

const temps: string[] = [];
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});
beforeEach(() => mock.reset());

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'wsctx-'));
  temps.push(root);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
  return root;
}

const words: TokenCounter = async (texts) => texts.map((t) => (t.match(/\S+/g)?.length ?? 0) + (t.match(/\n/g)?.length ?? 0));

const project = () =>
  tree({
    '.gitignore': 'dist/\n',
    'src/config/parse_config_file.ts': 'export function parseConfigFile(p: string) {\n  return JSON.parse(p);\n}\n',
    'src/main.ts': "import { parseConfigFile } from './config/parse_config_file';\n",
    'src/generated/big.ts': 'export const parseConfigFile = 1;\n',
    'dist/out.js': 'parseConfigFile()\n',
    'README.md': '# demo\n',
  });

test('gathers ranked, packed context from the workspace folder with files.exclude and search.exclude applied', async () => {
  const root = project();
  mock.setWorkspaceFolders([root]);
  mock.setConfig('files.exclude', { '**/generated': true });
  mock.setConfig('search.exclude', { '**/*.md': true });
  const ctx = await gatherWorkspaceContext({ question: 'where is parseConfigFile defined', budgetTokens: 1000, count: words });
  assert.equal(ctx.status, 'ok');
  if (ctx.status !== 'ok') return;
  assert.deepEqual(ctx.included.map((f) => f.path), ['src/config/parse_config_file.ts', 'src/main.ts', '.gitignore']);
  assert.equal(ctx.included[0].uri.fsPath, join(root, 'src/config/parse_config_file.ts'));
  assert.ok(ctx.prompt.startsWith('=== src/config/parse_config_file.ts ===\n1| export function parseConfigFile(p: string) {\n'));
  assert.equal(ctx.skipped.excluded, 1); // README.md
  assert.equal(ctx.skippedDirs.excluded, 1); // src/generated
  assert.equal(ctx.skippedDirs.gitignored, 1); // dist
  assert.deepEqual(ctx.summary, { filesIncluded: 3, filesConsidered: 4, filesSkipped: 1, tokens: (await words([ctx.prompt]))[0], budgetTokens: 1000 });
});

test('Restricted Mode reads nothing at all', async () => {
  const root = project();
  mock.setWorkspaceFolders([root]);
  mock.setTrusted(false);
  const spies = (['readdir', 'readFile', 'stat', 'lstat', 'realpath', 'opendir'] as const).map((m) => nodeMock.method(fsp, m));
  let counted = 0;
  try {
    const ctx = await gatherWorkspaceContext({
      question: 'anything',
      budgetTokens: 1000,
      count: async (t) => {
        counted++;
        return words(t);
      },
    });
    assert.equal(ctx.status, 'restricted');
    assert.deepEqual(ctx.summary, { filesIncluded: 0, filesConsidered: 0, filesSkipped: 0, tokens: 0, budgetTokens: 1000 });
    assert.deepEqual(spies.map((s) => s.mock.callCount()), [0, 0, 0, 0, 0, 0]);
    assert.equal(counted, 0);
  } finally {
    for (const s of spies) s.mock.restore();
  }
  // Once trusted, the same call reads the workspace.
  mock.setTrusted(true);
  assert.equal((await gatherWorkspaceContext({ question: 'anything', budgetTokens: 1000, count: words })).status, 'ok');
});

test('no workspace folder is reported, not an error', async () => {
  const ctx = await gatherWorkspaceContext({ question: 'x', budgetTokens: 10, count: words });
  assert.equal(ctx.status, 'noFolder');
});

test('multi-root: paths carry the folder name', async () => {
  const a = tree({ 'x.ts': 'export const tokenizerAlpha = 1;\n' });
  const b = tree({ 'y.ts': 'export const other = 2;\n' });
  mock.setWorkspaceFolders([a, b]);
  const ctx = await gatherWorkspaceContext({ question: 'tokenizerAlpha', budgetTokens: 1000, count: words });
  assert.equal(ctx.status, 'ok');
  if (ctx.status !== 'ok') return;
  const names = workspace.workspaceFolders!.map((f) => f.name);
  assert.deepEqual(ctx.included.map((f) => f.path), [`${names[0]}/x.ts`, `${names[1]}/y.ts`]);
  assert.ok(ctx.prompt.startsWith(`=== ${names[0]}/x.ts ===\n`));
});

test('a cancelled token rejects with CancellationError', async () => {
  mock.setWorkspaceFolders([project()]);
  const cts = new CancellationTokenSource();
  cts.cancel();
  await assert.rejects(gatherWorkspaceContext({ question: 'x', budgetTokens: 1000, count: words, token: cts.token as never }), (e) => e instanceof CancellationError);
  // Cancelled while the counter is working.
  const cts2 = new CancellationTokenSource();
  const slow: TokenCounter = async (t) => {
    cts2.cancel();
    return words(t);
  };
  await assert.rejects(gatherWorkspaceContext({ question: 'x', budgetTokens: 1000, count: slow, token: cts2.token as never }), (e) => e instanceof CancellationError);
});

test('documentChunks: the open document, workspace-relative path in headers', async () => {
  const root = tree({ 'src/long.ts': Array.from({ length: 40 }, (_, i) => `const v${i} = ${i};`).join('\n') + '\n' });
  mock.setWorkspaceFolders([root]);
  const doc = await workspace.openTextDocument(join(root, 'src/long.ts'));
  const chunks = await documentChunks(doc as never, 60, words);
  assert.ok(chunks.length > 1);
  assert.ok(chunks[0].text.startsWith('=== src/long.ts (lines 1-'));
  assert.equal(chunks.at(-1)!.lastLine, 40);
  for (const c of chunks) assert.ok(c.tokens <= 60);
});
