// Checks the linux-x64 VSIX that `npm run package` writes (packaging it first when missing or
// older than its sources): what the installed extension runs is in it, and nothing else is.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../e2e/harness/environment';
import { ensureVsix } from '../e2e/harness/vsix';

type Entry = { name: string; compressedSize: number; size: number };
const ORT = 'extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/';

test('linux-x64 VSIX: bundles, webview assets and the linux-x64 ORT binding only', { timeout: 600_000 }, async () => {
  const vsix = ensureVsix((m) => console.log(`  [package] ${m}`));
  const { listZip } = (await import(pathToFileURL(path.join(repoRoot, 'scripts/zipListing.mjs')).href)) as { listZip(f: string): Entry[] };
  const entries = listZip(vsix);
  const names = new Set(entries.map((e) => e.name));

  for (const required of [
    'extension/package.json',
    'extension/dist/extension.js',
    'extension/dist/runtime.js',
    'extension/dist/engineWorker.js',
    'extension/dist/cli.js',
    'extension/dist/media/answer.js',
    'extension/dist/media/inspector.js',
    'extension/node_modules/onnxruntime-node/package.json',
    'extension/node_modules/onnxruntime-node/dist/index.js',
    'extension/node_modules/onnxruntime-common/dist/cjs/index.js',
    `${ORT}onnxruntime_binding.node`,
    `${ORT}libonnxruntime.so.1`,
  ]) {
    assert.ok(names.has(required), `VSIX lacks ${required}`);
  }
  assert.ok([...names].some((n) => /^extension\/media\/.*\.css$/.test(n)), 'VSIX has no webview stylesheet');

  const forbidden: [RegExp, string][] = [
    [/\/(darwin|win32)\/|\/linux\/arm/, "another platform's binary"],
    [/providers_(cuda|tensorrt|shared)|libcu|cudnn/i, 'a CUDA/TensorRT provider library'],
    [/\.map$/, 'a source map'],
    [/\.(ts|mts|cts)$/, 'a TypeScript source'],
    [/^extension\/(src|runtime|test|scripts|docs|bench|bin)\//, 'a source, test or docs folder'],
    [/^extension\/node_modules\/(?!onnxruntime-node\/|onnxruntime-common\/)/, 'a dependency that should be bundled'],
  ];
  for (const { name } of entries) {
    for (const [pattern, what] of forbidden) assert.ok(!pattern.test(name), `VSIX contains ${what}: ${name}`);
  }

  // Everything but the native binding is a few bundles: keep it small.
  const rest = entries.filter((e) => !e.name.startsWith(ORT)).reduce((n, e) => n + e.compressedSize, 0);
  assert.ok(rest < 4 * 1024 * 1024, `VSIX without the ORT binding is ${(rest / 1024 / 1024).toFixed(1)} MiB compressed`);
});
