#!/usr/bin/env node
// `npm run package [-- --target T]`: builds (scripts/build.mjs) once, then packages one VSIX per
// target with @vscode/vsce into out/ (think-lens-<version>-<target>.vsix, vsce --target T), and
// prints each one's size and largest entries so growth is visible in CI logs.
//
//   npm run package                              linux-x64 (what CI and the e2e tests install)
//   npm run package -- --target win32-arm64      one target
//   npm run package -- --target linux-x64,darwin-arm64   several (or --target repeated)
//   npm run package -- --target all              every target below
//
// The bundles in dist/ are platform-neutral; only onnxruntime-node's native files differ. What
// goes in is .vscodeignore (the platform-neutral base) plus lines letting in exactly the target's
// files listed below, written to a temporary ignore file that vsce reads through --ignoreFile.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, repoRoot } from './build.mjs';
import { listZip } from './zipListing.mjs';

const ORT_BIN = 'node_modules/onnxruntime-node/bin/napi-v6';

/**
 * Each target's onnxruntime-node folder (bin/napi-v6/<platform>/<arch>, the path its
 * dist/binding.js requires from) and the files from it that the binding needs to load and run:
 * - every platform: onnxruntime_binding.node and the ONNX Runtime library it links against.
 * - darwin: the binding links @rpath/libonnxruntime.1.dylib; libonnxruntime.1.30.0.dylib, an
 *   identical copy (npm does not keep the symlink), is referenced by nothing and left out.
 * - win32: onnxruntime.dll; dxcompiler.dll and dxil.dll, which the WebGPU provider's D3D12
 *   backend (Dawn) loads to compile shaders with DXC (thinkLens.device = webgpu). DirectML.dll is
 *   left out: onnxruntime.dll only delay-loads it, for the DirectML provider, which ThinK Lens
 *   never requests (devices: cpu, webgpu, cuda), so it would be 18 MiB that never loads.
 * No platform gets CUDA/TensorRT provider libraries (onnxruntime-node downloads those on demand
 * at install time; the CUDA device falls back to CPU without them).
 */
export const targets = {
  'linux-x64': { dir: 'linux/x64', files: ['onnxruntime_binding.node', 'libonnxruntime.so.1'] },
  'linux-arm64': { dir: 'linux/arm64', files: ['onnxruntime_binding.node', 'libonnxruntime.so.1'] },
  'darwin-arm64': { dir: 'darwin/arm64', files: ['onnxruntime_binding.node', 'libonnxruntime.1.dylib'] },
  'win32-x64': { dir: 'win32/x64', files: ['onnxruntime_binding.node', 'onnxruntime.dll', 'dxcompiler.dll', 'dxil.dll'] },
  'win32-arm64': { dir: 'win32/arm64', files: ['onnxruntime_binding.node', 'onnxruntime.dll', 'dxcompiler.dll', 'dxil.dll'] },
};
export const allTargets = Object.keys(targets);
export const defaultTarget = 'linux-x64';

/** The package paths (relative to the repository root) of `target`'s native files. */
export function targetBinaries(target) {
  const t = targets[target];
  if (!t) throw new Error(`unknown target "${target}" (known: ${allTargets.join(', ')}, all)`);
  return t.files.map((f) => `${ORT_BIN}/${t.dir}/${f}`);
}

/** Where the VSIX for `target` is written. */
export function vsixPath(root = repoRoot, target = defaultTarget) {
  const { name, version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return join(root, 'out', `${name}-${version}-${target}.vsix`);
}

/** .vscodeignore plus the lines that let in exactly `target`'s native files. */
export function ignoreRules(root, target) {
  const base = readFileSync(join(root, '.vscodeignore'), 'utf8');
  if (/bin\/napi-v6/.test(base.split('\n').filter((l) => !l.trim().startsWith('#')).join('\n'))) {
    throw new Error('.vscodeignore must not name onnxruntime-node binaries: package.mjs adds the target\'s own');
  }
  return `${base.trimEnd()}\n\n# ${target}: added by scripts/package.mjs\n${targetBinaries(target).map((p) => `!${p}`).join('\n')}\n`;
}

const mib = (n) => `${(n / 1024 / 1024).toFixed(2)} MiB`;

/** Packages `target` from the current dist/ (no build): returns the VSIX's path, size and entries. */
export function packageTarget({ root = repoRoot, target = defaultTarget, log = (m) => console.log(m) } = {}) {
  const missing = targetBinaries(target).filter((p) => !existsSync(join(root, p)));
  if (missing.length) throw new Error(`${target}: onnxruntime-node lacks ${missing.join(', ')} (reinstall it: npm ci)`);
  const out = vsixPath(root, target);
  mkdirSync(join(root, 'out'), { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'think-lens-package-'));
  try {
    const ignoreFile = join(tmp, `${target}.vscodeignore`);
    writeFileSync(ignoreFile, ignoreRules(root, target));
    const args = [
      join(root, 'node_modules/@vscode/vsce/vsce'),
      'package',
      '--target', target,
      '--ignoreFile', ignoreFile,
      '--out', out,
      // vsce would rewrite README links to a repository URL; there is none to point at.
      '--no-rewrite-relative-links',
      '--allow-missing-repository',
    ];
    if (!existsSync(join(root, 'LICENSE')) && !existsSync(join(root, 'LICENSE.md'))) args.push('--skip-license');
    log(`vsce ${args.slice(1).join(' ')}`);
    const t0 = Date.now();
    const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`vsce package --target ${target} exited with ${r.status ?? r.signal}`);
    const seconds = (Date.now() - t0) / 1000;

    const entries = listZip(out).filter((e) => !e.name.endsWith('/'));
    const size = statSync(out).size;
    log(`\n${out}: ${mib(size)} compressed, ${entries.length} files, ${mib(entries.reduce((n, e) => n + e.size, 0))} unpacked (${seconds.toFixed(1)} s)`);
    log('largest files (unpacked / in the VSIX):');
    for (const e of [...entries].sort((a, b) => b.size - a.size).slice(0, 8)) {
      log(`  ${mib(e.size).padStart(10)} ${mib(e.compressedSize).padStart(10)}  ${e.name}`);
    }
    return { target, path: out, size, entries, seconds };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Builds once (no source maps: they would be left out anyway), then packages every target. */
export async function packageVsixes({ root = repoRoot, targets: wanted = [defaultTarget], log = (m) => console.log(m) } = {}) {
  for (const t of wanted) targetBinaries(t); // unknown targets fail before the build
  await build({ root, log, sourcemap: false });
  const results = wanted.map((target) => packageTarget({ root, target, log }));
  if (results.length > 1) {
    log('\nVSIX sizes:');
    for (const r of results) log(`  ${r.target.padEnd(13)} ${mib(r.size).padStart(10)}  (${r.seconds.toFixed(1)} s)  ${r.path}`);
  }
  return results;
}

/** The one-target form `npm run package` has always had. */
export async function packageVsix({ root = repoRoot, target = defaultTarget, log = (m) => console.log(m) } = {}) {
  return (await packageVsixes({ root, targets: [target], log }))[0];
}

/** --target T (repeatable, comma-separated, or "all"); none means the default target. */
export function parseTargets(argv) {
  const wanted = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    let value;
    if (a === '--target') {
      value = argv[++i];
      if (value === undefined) throw new Error('--target needs a value');
    } else if (a.startsWith('--target=')) value = a.slice('--target='.length);
    else throw new Error(`unknown argument "${a}" (usage: npm run package -- [--target ${allTargets.join('|')}|all])`);
    for (const t of value.split(',').map((s) => s.trim()).filter(Boolean)) {
      if (t === 'all') wanted.push(...allTargets);
      else {
        targetBinaries(t);
        wanted.push(t);
      }
    }
  }
  return wanted.length ? [...new Set(wanted)] : [defaultTarget];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  Promise.resolve()
    .then(() => packageVsixes({ targets: parseTargets(process.argv.slice(2)) }))
    .catch((err) => {
      console.error(`package failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
}
