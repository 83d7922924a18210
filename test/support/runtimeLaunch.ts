// How extension tests start runtime processes: the real runtime (runtime/host/main.ts through tsx,
// exactly what src/bootstrap.ts picks in a source checkout) or the crashy stand-in that only the
// supervisor's restart-policy tests use.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RuntimeLaunch } from '../../src/bootstrap';
import { findRuntime } from '../../src/bootstrap';
import { missingModel } from './models';

export const repoRoot = path.resolve(__dirname, '../..');

export function crashyLaunch(): RuntimeLaunch {
  const file = path.join(repoRoot, 'test/support/crashyRuntime.ts');
  return { command: process.execPath, args: ['--import', 'tsx', file], cwd: repoRoot, env: { ...process.env }, description: `crashy test runtime ${file}` };
}

/** The real runtime from the source tree, or undefined while runtime/host/main.ts does not exist. */
export function realRuntimeLaunch(): RuntimeLaunch | undefined {
  if (!fs.existsSync(path.join(repoRoot, 'runtime/host/main.ts'))) return undefined;
  return findRuntime(repoRoot, { prefer: 'source' });
}

/** Whether a process id is alive (signal 0 checks without killing). */
export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls (without a deadline of its own: the test runner's timeout bounds it) until `cond` holds. */
export async function until(cond: () => boolean, stepMs = 20): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, stepMs));
}

/** The real pretrained model the runtime tests use (absent outside this workplace: tests skip; in CI they fail). */
export const STORIES_DIR = path.resolve(repoRoot, '../shared/models/stories260k');

/** Why a test that needs the real runtime and stories260k cannot run here, or undefined if it can (throws for a missing model where models are required: see missingModel). */
export function realRuntimeMissing(): string | undefined {
  if (!fs.existsSync(path.join(repoRoot, 'runtime/host/main.ts'))) return 'runtime/host/main.ts not found: the real runtime is not in this tree';
  return missingModel(path.join(STORIES_DIR, 'config.json'), 'model folder');
}
