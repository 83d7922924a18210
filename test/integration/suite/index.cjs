// Runs inside a desktop VS Code's extension host (launched by @vscode/test-electron with the
// repository as the extension under development). Plain CommonJS: no tsx inside VS Code.
const assert = require('node:assert/strict');
const vscode = require('vscode');

const COMMANDS = ['thinkLens.askAboutCodebase', 'thinkLens.summarizeFile', 'thinkLens.openCacheInspector'];

async function run() {
  const ext = vscode.extensions.getExtension('think-lens.think-lens');
  assert.ok(ext, 'extension think-lens.think-lens is not loaded');
  await ext.activate();
  assert.equal(ext.isActive, true, 'extension did not activate');

  const all = new Set(await vscode.commands.getCommands(true));
  for (const id of COMMANDS) assert.ok(all.has(id), `command ${id} is not registered`);

  const model = process.env.THINK_LENS_MODEL;
  if (model) {
    await vscode.workspace.getConfiguration('thinkLens').update('model', model, vscode.ConfigurationTarget.Global);
  }
  // Opening the inspector must work before any question (it shows the runtime state).
  await vscode.commands.executeCommand('thinkLens.openCacheInspector');
  console.log(`[integration] ${ext.id} active in VS Code ${vscode.version}; commands: ${COMMANDS.join(', ')}`);
}

module.exports = { run };
