import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const repoRoot = path.resolve(__dirname, '../..');

type BuildModule = {
  build(opts: { root: string; log: (m: string) => void }): Promise<void>;
  nodeEntries: { entry: string; out: string }[];
  externals: string[];
};
const load = async () => (await import(pathToFileURL(path.join(repoRoot, 'scripts/build.mjs')).href)) as BuildModule;

test('build fails naming every missing entry instead of shipping a partial dist/', async () => {
  const { build } = await load();
  const root = mkdtempSync(path.join(os.tmpdir(), 'think-lens-build-'));
  try {
    writeFileSync(path.join(root, 'package.json'), '{"name":"x"}');
    await assert.rejects(build({ root, log: () => undefined }), (err: Error) => {
      for (const entry of ['src/main.ts', 'runtime/host/main.ts', 'runtime/host/engineWorker.ts', 'runtime/cli/main.ts', 'scripts/build-webviews.mjs']) {
        assert.ok(err.message.includes(entry), `message does not name ${entry}: ${err.message}`);
      }
      return true;
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the bundles keep vscode and onnxruntime-node external and write the layout the extension expects', async () => {
  const { nodeEntries, externals } = await load();
  assert.deepEqual([...externals].sort(), ['onnxruntime-node', 'vscode']);
  assert.deepEqual(
    nodeEntries.map((e) => e.out),
    ['dist/extension.js', 'dist/runtime.js', 'dist/engineWorker.js', 'dist/cli.js'],
  );
});
