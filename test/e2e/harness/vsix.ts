// The suite tests the packaged extension, so it needs the VSIX that `npm run package` writes.
// A VSIX older than any source it is built from would test yesterday's code: it is rebuilt then.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './environment';

/** The VSIX `npm run package -- --target <target>` writes (linux-x64: the one the e2e tests install). */
export function vsixPath(target = 'linux-x64'): string {
  const { name, version } = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string };
  return path.join(repoRoot, 'out', `${name}-${version}-${target}.vsix`);
}

function newestSource(): { file: string; mtimeMs: number } {
  let newest = { file: '', mtimeMs: 0 };
  const visit = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const n of readdirSync(p)) visit(path.join(p, n));
    } else if (st.mtimeMs > newest.mtimeMs) {
      newest = { file: path.relative(repoRoot, p), mtimeMs: st.mtimeMs };
    }
  };
  for (const p of ['core', 'src', 'runtime', 'media', 'scripts', 'package.json', '.vscodeignore']) {
    if (existsSync(path.join(repoRoot, p))) visit(path.join(repoRoot, p));
  }
  return newest;
}

/** Returns the path of an up-to-date VSIX, packaging one first when needed. */
export function ensureVsix(log: (m: string) => void): string {
  // A VSIX built elsewhere (another checkout, a release) is tested as it is.
  const given = process.env.THINK_LENS_E2E_VSIX;
  if (given) {
    if (!existsSync(given)) throw new Error(`THINK_LENS_E2E_VSIX=${given} does not exist`);
    return given;
  }
  return ensureVsixes(['linux-x64'], log)[0];
}

/**
 * Returns up-to-date VSIXs for `targets` (in that order), packaging the missing or stale ones
 * in one `npm run package -- --target a,b,...` run (one build shared by all of them).
 */
export function ensureVsixes(targets: readonly string[], log: (m: string) => void): string[] {
  const newest = newestSource();
  const stale = targets.filter((t) => !existsSync(vsixPath(t)) || statSync(vsixPath(t)).mtimeMs < newest.mtimeMs);
  if (stale.length) {
    log(`${stale.join(', ')}: ${stale.some((t) => existsSync(vsixPath(t))) ? `VSIX missing or older than ${newest.file}` : 'no VSIX'}: packaging`);
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/package.mjs'), '--target', stale.join(',')], { cwd: repoRoot, encoding: 'utf8' });
    const missing = stale.filter((t) => !existsSync(vsixPath(t)));
    if (r.status !== 0 || missing.length) {
      throw new Error(`npm run package failed (exit ${r.status ?? r.signal}):\n${(r.stdout + r.stderr).trim().split('\n').slice(-20).join('\n')}`);
    }
  }
  return targets.map((t) => vsixPath(t));
}
