// Optional: the extension inside desktop VS Code through @vscode/test-electron. That needs a VS
// Code build: THINK_LENS_VSCODE_EXECUTABLE, a copy cached in .vscode-test/, or a download. Where
// none can be had (no internet, as on the project's own machines) or there is no display, the
// suite skips with the reason; it never fails the run for lack of VS Code. The real-editor
// coverage that always runs is the code-server suite in test/e2e/.

import { test } from 'node:test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { downloadAndUnzipVSCode, runTests, SilentReporter } from '@vscode/test-electron';
import { missingModel } from '../support/models';

const repoRoot = path.resolve(__dirname, '../..');
const modelDir = path.resolve(repoRoot, '../shared/models/stories260k');
const VSCODE_VERSION = '1.100.3';

async function findVSCode(): Promise<{ executable?: string; missing?: string }> {
  const fromEnv = process.env.THINK_LENS_VSCODE_EXECUTABLE;
  if (fromEnv) return existsSync(fromEnv) ? { executable: fromEnv } : { missing: `THINK_LENS_VSCODE_EXECUTABLE=${fromEnv} does not exist` };
  try {
    // Uses .vscode-test/ when a copy is there; otherwise downloads, giving up after 15 s without data.
    const executable = await downloadAndUnzipVSCode({ version: VSCODE_VERSION, cachePath: path.join(repoRoot, '.vscode-test'), reporter: new SilentReporter(), timeout: 15_000 });
    return { executable };
  } catch (err) {
    return { missing: `no VS Code ${VSCODE_VERSION} build available (download failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)})` };
  }
}

/** Electron needs an X display on Linux: the given one, or a private Xvfb when installed. */
function ensureDisplay(): { xvfb?: ChildProcess; missing?: string } {
  if (process.platform !== 'linux' || process.env.DISPLAY) return {};
  if (spawnSync('which', ['Xvfb']).status !== 0) return { missing: 'no DISPLAY and no Xvfb (apt-get install -y xvfb) for desktop VS Code' };
  const display = `:${90 + (process.pid % 100)}`;
  const xvfb = spawn('Xvfb', [display, '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], { stdio: 'ignore' });
  process.env.DISPLAY = display;
  return { xvfb };
}

test('extension activates and registers its commands in desktop VS Code (@vscode/test-electron)', { timeout: 900_000 }, async (t) => {
  const { executable, missing } = await findVSCode();
  if (!executable) {
    t.skip(`desktop VS Code integration suite skipped: ${missing}`);
    return;
  }
  const { xvfb, missing: noDisplay } = ensureDisplay();
  if (noDisplay) {
    t.skip(`desktop VS Code integration suite skipped: ${noDisplay}`);
    return;
  }
  if (!existsSync(path.join(repoRoot, 'dist/extension.js'))) {
    const b = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/build.mjs')], { cwd: repoRoot, stdio: 'inherit' });
    if (b.status !== 0) throw new Error(`build failed (exit ${b.status}); the integration suite runs dist/extension.js`);
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'think-lens-integration-'));
  const workspace = path.join(tmp, 'tiny-ini');
  cpSync(path.join(repoRoot, 'test/fixtures/e2e-workspace'), workspace, { recursive: true });
  try {
    await runTests({
      vscodeExecutablePath: executable,
      extensionDevelopmentPath: repoRoot,
      extensionTestsPath: path.join(__dirname, 'suite/index.cjs'),
      // Without the model the suite still checks activation and commands (a failure where models are required).
      extensionTestsEnv: missingModel(modelDir, 'model folder') === undefined ? { THINK_LENS_MODEL: modelDir } : {},
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--user-data-dir', path.join(tmp, 'user-data'), '--disable-gpu'],
    });
  } finally {
    xvfb?.kill();
    rmSync(tmp, { recursive: true, force: true });
  }
});
