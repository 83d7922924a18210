#!/usr/bin/env node
// `npm run package`: builds (scripts/build.mjs), then packages the linux-x64 VSIX with
// @vscode/vsce into out/, and prints its size and largest entries so growth is visible in CI
// logs. What goes in is decided by .vscodeignore.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, repoRoot } from './build.mjs';
import { listZip } from './zipListing.mjs';

export const target = 'linux-x64';

/** Where the VSIX for `target` is written. */
export function vsixPath(root = repoRoot) {
  const { name, version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return join(root, 'out', `${name}-${version}-${target}.vsix`);
}

const mib = (n) => `${(n / 1024 / 1024).toFixed(2)} MiB`;

export async function packageVsix({ root = repoRoot, log = (m) => console.log(m) } = {}) {
  // No source maps: they would be left out of the VSIX anyway.
  await build({ root, log, sourcemap: false });
  const out = vsixPath(root);
  mkdirSync(join(root, 'out'), { recursive: true });
  const args = [
    join(root, 'node_modules/@vscode/vsce/vsce'),
    'package',
    '--target', target,
    '--out', out,
    // vsce would rewrite README links to a repository URL; there is none to point at.
    '--no-rewrite-relative-links',
    '--allow-missing-repository',
  ];
  if (!existsSync(join(root, 'LICENSE')) && !existsSync(join(root, 'LICENSE.md'))) args.push('--skip-license');
  log(`vsce ${args.slice(1).join(' ')}`);
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`vsce package exited with ${r.status ?? r.signal}`);

  const entries = listZip(out).filter((e) => !e.name.endsWith('/'));
  const size = statSync(out).size;
  log(`\n${out}: ${mib(size)} compressed, ${entries.length} files, ${mib(entries.reduce((n, e) => n + e.size, 0))} unpacked`);
  log('largest files (unpacked / in the VSIX):');
  for (const e of [...entries].sort((a, b) => b.size - a.size).slice(0, 12)) {
    log(`  ${mib(e.size).padStart(10)} ${mib(e.compressedSize).padStart(10)}  ${e.name}`);
  }
  return { path: out, size, entries };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  packageVsix().catch((err) => {
    console.error(`package failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
