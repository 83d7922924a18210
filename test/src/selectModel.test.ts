// "ThinK Lens: Select Model" through the real extension entry on the vscode mock: the picker's
// fixed items, the GGUF models found in a fake home laid out as Ollama and LM Studio write them
// (core/localModels.ts, handed to activate as CtxDeps.findLocalModels), the GGUF-file item's check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { mock, Uri } from '../support/vscode';
import { startExtension } from '../support/extensionHarness';
import { ggufHeader } from '../support/ggufFiles';
import { until } from '../support/runtimeLaunch';
import { findLocalModels } from '../../core/localModels';
import { DEFAULT_HUB_MODEL } from '../../core/defaultModel';
import { formatBytes } from '../../core/numberFormat';
import { PICK_DOWNLOAD, PICK_FOLDER, PICK_GGUF } from '../../src/commands/selectModel';

const DIGEST = 'c'.repeat(64);

/** A home with one Ollama model, one Ollama model of an unsupported architecture, a half-pulled one, and one LM Studio file. */
function fakeHome(t: { after(fn: () => void): void }) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tl-home-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const put = (p: string, data: string | Buffer) => {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
  };
  const store = path.join(home, '.ollama', 'models');
  const manifest = (model: string, tag: string, digest: string) =>
    put(
      path.join(store, 'manifests', 'registry.ollama.ai', 'library', model, tag),
      JSON.stringify({ schemaVersion: 2, layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${digest}` }] }),
    );
  manifest('qwen2.5-coder', '0.5b', DIGEST);
  const blob = path.join(store, 'blobs', `sha256-${DIGEST}`);
  put(blob, ggufHeader({ arch: 'qwen2' }));
  manifest('gemma3', '1b', 'd'.repeat(64));
  const gemma = path.join(store, 'blobs', `sha256-${'d'.repeat(64)}`);
  put(gemma, ggufHeader({ arch: 'gemma3' }));
  manifest('half-pulled', 'latest', 'e'.repeat(64)); // no blob: skipped, logged
  const lmFile = path.join(home, '.lmstudio', 'models', 'lmstudio-community', 'Llama-3.2-1B-Instruct-GGUF', 'Llama-3.2-1B-Instruct-Q4_K_M.gguf');
  put(lmFile, ggufHeader({ arch: 'llama', metadata: [['general.architecture', 'llama'], ['general.name', 'Llama 3.2 1B Instruct']] }));
  return { home, blob, gemma, lmFile, scan: () => findLocalModels({ home, env: {} }) };
}

type Item = { label: string; description?: string; detail?: string; kind?: number };

function pickerItems(): Item[] {
  const d = mock.dialogs.find((x) => x.kind === 'quickPick');
  assert.ok(d, 'the picker was shown');
  return d.items as Item[];
}

function logText(): string {
  return mock.outputChannels.find((c) => c.name === 'ThinK Lens')!.text();
}

test('Select Model lists the fixed ways and the GGUFs Ollama and LM Studio downloaded; choosing one stores its path', async (t) => {
  const f = fakeHome(t);
  const h = await startExtension({ settings: { 'thinkLens.model': '' }, deps: { findLocalModels: f.scan } });
  t.after(() => h.close());
  mock.queueQuickPick('qwen2.5-coder:0.5b');
  const chosen = await vscode.commands.executeCommand('thinkLens.selectModel');
  assert.equal(chosen, f.blob);

  const items = pickerItems().filter((i) => !i.detail || i.detail.startsWith(f.home) || !path.isAbsolute(i.detail));
  assert.deepEqual(items.slice(0, 3).map((i) => i.label), [PICK_DOWNLOAD, PICK_FOLDER, PICK_GGUF]);
  assert.match(items[0].description!, new RegExp(DEFAULT_HUB_MODEL.replace(/[.]/g, '\\.')));
  assert.equal(items[3].kind, vscode.QuickPickItemKind.Separator);
  const found = items.filter((i) => i.detail && path.isAbsolute(i.detail));
  assert.deepEqual(
    found.map((i) => [i.label, i.description, i.detail]),
    [
      ['gemma3:1b', `Ollama · ${formatBytes(fs.statSync(f.gemma).size)}`, f.gemma],
      ['qwen2.5-coder:0.5b', `Ollama · ${formatBytes(fs.statSync(f.blob).size)}`, f.blob],
      ['lmstudio-community/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf', `LM Studio · ${formatBytes(fs.statSync(f.lmFile).size)}`, f.lmFile],
    ],
  );

  assert.equal(vscode.workspace.getConfiguration('thinkLens').get('model'), f.blob);
  assert.deepEqual(h.api.ctx.modelSource(), { kind: 'file', dir: f.blob });
  assert.equal(await h.api.ctx.modelDir(), f.blob, 'the stored blob passes the model check');
  assert.equal(mock.messages.at(-1)!.message, 'ThinK Lens will use qwen2.5-coder:0.5b (Ollama), a qwen2 GGUF model.');
  const log = logText();
  assert.match(log, new RegExp(`model file set to ${f.blob} \\(qwen2\\.5-coder:0\\.5b \\(Ollama\\), qwen2 GGUF\\)`));
  assert.match(log, /local models: skipped .*half-pulled.*: .*sha256-e{64} is missing \(an unfinished download\?\)/, 'skipped entries go to the log');

  // Again: the model in use is marked; an unsupported architecture is refused and nothing changes.
  mock.queueQuickPick('gemma3:1b');
  assert.equal(await vscode.commands.executeCommand('thinkLens.selectModel'), undefined);
  const second = mock.dialogs.filter((x) => x.kind === 'quickPick')[1].items as Item[];
  assert.match(second.find((i) => i.detail === f.blob)!.description!, / · in use$/);
  const err = mock.messages.at(-1)!;
  assert.equal(err.kind, 'error');
  assert.equal(err.message, `Not a usable model file: ${f.gemma}. sha256-${'d'.repeat(64)}: general.architecture "gemma3" is not supported (supported: llama, qwen2, qwen3).`);
  assert.equal(vscode.workspace.getConfiguration('thinkLens').get('model'), f.blob);
});

test('Select Model, GGUF file…: a file that is not GGUF is refused with a precise message; another file can be chosen', async (t) => {
  const f = fakeHome(t);
  const h = await startExtension({ files: { 'models/notes.gguf': '# not a model\n' }, deps: { findLocalModels: () => ({ models: [], skipped: [] }) } });
  t.after(() => h.close());
  const bad = path.join(h.workspace, 'models/notes.gguf');
  mock.respond((m) => (m.items.includes('Select Another File') ? 'Select Another File' : undefined));
  mock.queueQuickPick(PICK_GGUF);
  mock.queueOpenDialog([Uri.file(bad)]);
  mock.queueOpenDialog([Uri.file(f.lmFile)]);
  const chosen = await vscode.commands.executeCommand('thinkLens.selectModel');
  assert.equal(chosen, f.lmFile);

  assert.equal(pickerItems().length, 3, 'nothing found: no separator, no models');
  const open = mock.dialogs.filter((d) => d.kind === 'open');
  assert.equal(open.length, 2);
  assert.deepEqual(open[0].options?.filters, { 'GGUF model': ['gguf'] });
  assert.equal(open[0].options?.canSelectFiles, true);
  assert.equal(open[0].options?.canSelectFolders, false);
  const err = mock.messages.find((m) => m.kind === 'error');
  assert.ok(err);
  assert.equal(err.message, `Not a usable model file: ${bad}. notes.gguf is not a GGUF file: it starts with "# no", not "GGUF".`);
  assert.deepEqual(err.items, ['Select Another File']);
  assert.match(logText(), /Not a usable model file: .*notes\.gguf/);
  assert.equal(vscode.workspace.getConfiguration('thinkLens').get('model'), f.lmFile);
  assert.equal(h.api.ctx.modelSource().kind, 'file');
  assert.equal(mock.messages.at(-1)!.message, `ThinK Lens will use the llama GGUF model ${f.lmFile}.`);
});

test('Select Model, Download from the Hub…: runs Download Model with the default repo proposed; Local model folder… runs Select Model Folder', async (t) => {
  const h = await startExtension({ deps: { findLocalModels: () => ({ models: [], skipped: [] }) } });
  t.after(() => h.close());
  mock.queueQuickPick(PICK_DOWNLOAD);
  mock.queueInput(undefined); // the user dismisses the repo box
  assert.equal(await vscode.commands.executeCommand('thinkLens.selectModel'), undefined);
  const input = mock.dialogs.find((d) => d.kind === 'input');
  assert.equal(input?.options?.value, DEFAULT_HUB_MODEL);
  assert.ok(mock.executedCommands.some((c) => c.id === 'thinkLens.downloadModel'));

  mock.queueQuickPick(PICK_FOLDER);
  mock.queueOpenDialog(undefined);
  assert.equal(await vscode.commands.executeCommand('thinkLens.selectModel'), undefined);
  assert.ok(mock.executedCommands.some((c) => c.id === 'thinkLens.selectModelFolder'));
  assert.equal(mock.dialogs.at(-1)?.options?.canSelectFolders, true);

  // Dismissing the picker changes nothing.
  assert.equal(await vscode.commands.executeCommand('thinkLens.selectModel'), undefined);
  assert.equal(vscode.workspace.getConfiguration('thinkLens').get('model'), '');
});

test('with no model, the activation message offers Select Model: a found model chosen there is configured and named in the status bar', async (t) => {
  const f = fakeHome(t);
  const h = await startExtension({
    script: () => {
      mock.respond((m) => (m.items.includes('Select Model') ? 'Select Model' : undefined));
      mock.queueQuickPick('lmstudio-community/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf');
    },
    deps: { findLocalModels: f.scan },
  });
  t.after(() => h.close());
  await until(() => h.api.ctx.config.model === f.lmFile);
  assert.ok(mock.executedCommands.some((c) => c.id === 'thinkLens.selectModel'));
  assert.match(mock.statusBarItems[0].tooltip as string, /Model: Llama-3\.2-1B-Instruct-Q4_K_M\.gguf/);
});
