// Activation and deactivation of the real extension entry (src/main.ts) on the vscode mock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mock, Uri } from '../support/vscode';
import { EXTENSION_COMMANDS as COMMANDS, startExtension } from '../support/extensionHarness';
import { isAlive, realRuntimeMissing, STORIES_DIR, until } from '../support/runtimeLaunch';
import { missingModel } from '../support/models';

const storiesMissing = missingModel(STORIES_DIR, 'model folder');


test('package.json declares every command, the menus, the settings and limited untrusted-workspace support', async () => {
  const pkg = (await import('../../package.json')).default as Record<string, any>;
  assert.equal(pkg.main, './dist/extension.js');
  assert.deepEqual(pkg.contributes.commands.map((c: { command: string }) => c.command).sort(), [...COMMANDS].sort());
  for (const menu of ['editor/title', 'editor/context', 'explorer/context']) {
    assert.ok(pkg.contributes.menus[menu].some((m: { command: string }) => m.command === 'thinkLens.summarizeFile'), menu);
  }
  assert.deepEqual(Object.keys(pkg.contributes.configuration.properties).sort(), [
    'thinkLens.cachePrecision', 'thinkLens.contextTokens', 'thinkLens.device', 'thinkLens.engine', 'thinkLens.maxNewTokens', 'thinkLens.memoryBudgetMb', 'thinkLens.model',
    'thinkLens.observationWindow', 'thinkLens.pruneRatio', 'thinkLens.recent', 'thinkLens.remoteModel', 'thinkLens.temperature', 'thinkLens.weights',
  ]);
  assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
  assert.ok(pkg.capabilities.untrustedWorkspaces.restrictedConfigurations.includes('thinkLens.model'));
});

test('with no model configured, activation says how to get one and starts nothing', async (t) => {
  const h = await startExtension();
  t.after(() => h.close());
  const shown = await mock.waitForMessage((m) => /no model/.test(m.message));
  assert.equal(shown.kind, 'info');
  assert.match(shown.message, /Select one: a GGUF that Ollama or LM Studio already downloaded, a \.gguf file, or a local Hugging Face model folder \(config\.json, \*\.safetensors, tokenizer\.json\); or download a small model from the Hub/);
  assert.deepEqual(shown.items, ['Select Model', 'Download Model']);
  assert.equal(h.api.ctx.supervisor.state, 'stopped');
  assert.equal(h.api.ctx.supervisor.current, undefined, 'no runtime process was started');
  assert.deepEqual(mock.registeredCommands().sort(), [...COMMANDS].sort());
  const status = mock.statusBarItems[0];
  assert.equal(status.visible, true);
  assert.match(status.text, /ThinK: no model/);
  assert.equal(status.command, 'thinkLens.selectModel');
  assert.ok(mock.outputChannels.some((c) => c.name === 'ThinK Lens' && c.log));
});

test('choosing Select Model from the activation message, then its folder item, configures the chosen folder', { skip: storiesMissing }, async (t) => {
  const h = await startExtension({
    script: () => {
      mock.respond((m) => (m.items.includes('Select Model') ? 'Select Model' : undefined));
      mock.queueQuickPick('Local model folder…');
      mock.queueOpenDialog([Uri.file(STORIES_DIR)]);
    },
    deps: { findLocalModels: () => ({ models: [], skipped: [] }) },
  });
  t.after(() => h.close());
  await until(() => h.api.ctx.config.model === STORIES_DIR);
  assert.match(mock.statusBarItems[0].text, /ThinK: stopped/);
  assert.equal(h.api.ctx.supervisor.current, undefined, 'selecting a folder loads nothing yet');
});

test('deactivation disposes everything: the runtime process is gone, status bar and log disposed', { skip: realRuntimeMissing() }, async () => {
  const h = await startExtension({ settings: { 'thinkLens.model': STORIES_DIR } });
  assert.equal(mock.messages.length, 0, 'a configured model needs no hint');
  await h.api.ctx.ensureModel();
  const pid = h.api.ctx.supervisor.current?.pid;
  assert.ok(isAlive(pid));
  assert.match(mock.statusBarItems[0].text, /ThinK: ready/);
  await h.close();
  assert.equal(isAlive(pid), false, 'the runtime process is gone after deactivate');
  assert.equal(mock.statusBarItems[0].disposed, true);
  assert.equal(mock.outputChannels[0].disposed, true);
  assert.deepEqual(mock.registeredCommands(), []);
});
