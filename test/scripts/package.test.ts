// Checks the VSIX that `npm run package -- --target T` writes for every target (packaging them
// first, in one run sharing one build, when missing or older than their sources): what the
// installed extension runs is in each, with exactly its own platform's onnxruntime binaries,
// told apart by reading each binary's header (ELF / PE / Mach-O and the machine type), and
// nothing else.

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../e2e/harness/environment';
import { ensureVsixes } from '../e2e/harness/vsix';

type ZipEntry = { name: string; compressedSize: number; size: number; method: number; crc: number; localOffset: number };
type Zip = { entries: ZipEntry[]; read(e: ZipEntry): Buffer };
type Binary = { format: 'elf' | 'pe' | 'macho'; machines: number[]; arches: string[] } | null;

const importScript = async <T>(file: string) => (await import(pathToFileURL(path.join(repoRoot, 'scripts', file)).href)) as T;

const NAPI = 'extension/node_modules/onnxruntime-node/bin/napi-v6/';

/**
 * Stated here, not taken from scripts/package.mjs, so the test checks the script: each target's
 * folder (the path onnxruntime-node's binding.js requires from), the binary format and machine
 * type its binaries must have, and exactly which of them the VSIX carries.
 */
const TARGETS: Record<string, { dir: string; format: 'elf' | 'pe' | 'macho'; machine: number; files: string[] }> = {
  'linux-x64': { dir: 'linux/x64', format: 'elf', machine: 0x3e, files: ['onnxruntime_binding.node', 'libonnxruntime.so.1'] },
  'linux-arm64': { dir: 'linux/arm64', format: 'elf', machine: 0xb7, files: ['onnxruntime_binding.node', 'libonnxruntime.so.1'] },
  'darwin-arm64': { dir: 'darwin/arm64', format: 'macho', machine: 0x0100000c, files: ['onnxruntime_binding.node', 'libonnxruntime.1.dylib'] },
  // DirectML.dll is delay-loaded by onnxruntime.dll for the DirectML provider only, never used.
  'win32-x64': { dir: 'win32/x64', format: 'pe', machine: 0x8664, files: ['onnxruntime_binding.node', 'onnxruntime.dll', 'dxcompiler.dll', 'dxil.dll'] },
  'win32-arm64': { dir: 'win32/arm64', format: 'pe', machine: 0xaa64, files: ['onnxruntime_binding.node', 'onnxruntime.dll', 'dxcompiler.dll', 'dxil.dll'] },
};

/** What every VSIX must hold besides its binaries. */
const REQUIRED = [
  'extension.vsixmanifest',
  'extension/package.json',
  'extension/dist/extension.js',
  'extension/dist/runtime.js',
  'extension/dist/engineWorker.js',
  'extension/dist/cli.js',
  'extension/dist/media/answer.js',
  'extension/dist/media/inspector.js',
  'extension/node_modules/onnxruntime-node/package.json',
  'extension/node_modules/onnxruntime-node/dist/index.js',
  'extension/node_modules/onnxruntime-node/dist/binding.js',
  'extension/node_modules/onnxruntime-common/dist/cjs/index.js',
];

/** Names a native library or addon goes by. */
const NATIVE_NAME = /\.(node|dll|dylib|so(\.\d+)*|exe)$/i;

const zips = new Map<string, Zip>();
let describeBinary: (bytes: Uint8Array) => Binary;

before(async () => {
  const t0 = Date.now();
  const targets = Object.keys(TARGETS);
  const paths = ensureVsixes(targets, (m) => console.log(`  [package] ${m}`));
  console.log(`  [package] ${targets.length} VSIXs ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const { openZip } = await importScript<{ openZip(f: string): Zip }>('zipListing.mjs');
  ({ describeBinary } = await importScript<{ describeBinary: typeof describeBinary }>('binaryHeader.mjs'));
  targets.forEach((t, i) => zips.set(t, openZip(paths[i])));
}, { timeout: 900_000 });

for (const [target, want] of Object.entries(TARGETS)) {
  test(`${target} VSIX: bundles, webview assets and exactly the ${target} ORT binaries`, () => {
    const zip = zips.get(target)!;
    const entries = zip.entries.filter((e) => !e.name.endsWith('/'));
    const names = new Set(entries.map((e) => e.name));
    const ort = `${NAPI}${want.dir}/`;
    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MiB`;
    console.log(`  ${target}: ${mib(entries.reduce((n, e) => n + e.compressedSize, 0))} compressed, ${entries.length} files`);

    for (const required of [...REQUIRED, ...want.files.map((f) => ort + f)]) {
      assert.ok(names.has(required), `${target} VSIX lacks ${required}`);
    }
    assert.ok([...names].some((n) => /^extension\/media\/.*\.css$/.test(n)), `${target} VSIX has no webview stylesheet`);
    const manifest = zip.read(entries.find((e) => e.name === 'extension.vsixmanifest')!).toString('utf8');
    assert.match(manifest, new RegExp(`<Identity [^>]*TargetPlatform="${target}"`), `${target} VSIX's manifest does not name its target platform`);

    // Every file is read: whatever has a native header must be one of the target's binaries,
    // in its format and for its machine (each architecture of a fat Mach-O too); whatever is
    // named like a native library must have such a header.
    const natives: string[] = [];
    for (const e of entries) {
      const bin = describeBinary(zip.read(e));
      if (!bin) {
        assert.ok(!NATIVE_NAME.test(e.name), `${target} VSIX: ${e.name} is named like a native binary but is not ELF, PE or Mach-O`);
        continue;
      }
      natives.push(e.name);
      const hex = bin.machines.map((m) => `0x${m.toString(16)}`).join(', ');
      assert.equal(bin.format, want.format, `${target} VSIX: ${e.name} is ${bin.format} (${bin.arches.join(', ')}), not ${want.format}`);
      assert.ok(
        bin.machines.length > 0 && bin.machines.every((m) => m === want.machine),
        `${target} VSIX: ${e.name} is ${bin.format} for ${bin.arches.join(', ')} (${hex}), not machine 0x${want.machine.toString(16)}`,
      );
    }
    assert.deepEqual(natives.sort(), want.files.map((f) => ort + f).sort(), `${target} VSIX's native binaries are not exactly its ORT binding and libraries`);

    const forbidden: [RegExp, string][] = [
      [new RegExp(`^${NAPI}(?!${want.dir}/)`), "another platform's binary"],
      [/providers_(cuda|tensorrt|shared)|libcu|cudnn|nvinfer|tensorrt/i, 'a CUDA/TensorRT provider library'],
      [/DirectML\.dll$/i, 'DirectML, which no device setting uses'],
      [/\.map$/, 'a source map'],
      [/\.(ts|mts|cts)$/, 'a TypeScript source'],
      [/^extension\/(src|runtime|core|test|scripts|docs|bench|bin)\//, 'a source, test or docs folder'],
      [/^extension\/node_modules\/(?!onnxruntime-node\/|onnxruntime-common\/)/, 'a dependency that should be bundled'],
    ];
    for (const { name } of entries) {
      for (const [pattern, what] of forbidden) assert.ok(!pattern.test(name), `${target} VSIX contains ${what}: ${name}`);
    }

    // Everything but the native binaries is a few bundles: keep it small.
    const rest = entries.filter((e) => !e.name.startsWith(ort)).reduce((n, e) => n + e.compressedSize, 0);
    assert.ok(rest < 4 * 1024 * 1024, `${target} VSIX without the ORT binaries is ${mib(rest)} compressed`);
  });
}

test('every VSIX carries the same platform-neutral bundles and JavaScript', () => {
  const [first, ...others] = Object.keys(TARGETS);
  const neutral = (zip: Zip) =>
    new Map(zip.entries.filter((e) => e.name.startsWith('extension/') && !e.name.startsWith(NAPI) && !e.name.endsWith('/')).map((e) => [e.name, e.crc]));
  const reference = neutral(zips.get(first)!);
  for (const target of others) {
    assert.deepEqual(neutral(zips.get(target)!), reference, `${target} VSIX's files outside the ORT binaries differ from ${first}'s`);
  }
});
