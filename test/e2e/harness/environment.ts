// What the end-to-end suite needs from the machine, found (or installed) once per test file:
// code-server (scripts/code-server.sh, cached), Debian's chromium and the stories260k model.
// Anything missing is a skip with the reason, except that THINK_LENS_E2E_REQUIRED=1 (set by
// .ci/run) turns it into a failure, so CI can never pass by skipping the real-editor tests; a
// missing model fails where models are required (CI=true or THINK_LENS_MODELS_REQUIRED=1, see
// test/support/models.ts).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

export const repoRoot = path.resolve(__dirname, '../../..');
export const modelDir = process.env.THINK_LENS_E2E_MODEL ?? path.resolve(repoRoot, '../shared/models/stories260k');
export const fixtureWorkspace = path.join(repoRoot, 'test/fixtures/e2e-workspace');
export const artifactsDir = path.join(repoRoot, 'test-artifacts/e2e');
export const chromiumPath = process.env.THINK_LENS_CHROMIUM ?? '/usr/bin/chromium';

export interface E2eEnvironment {
  codeServerEntry: string;
  chromium: string;
  modelDir: string;
}

export const e2eRequired = process.env.THINK_LENS_E2E_REQUIRED === '1';

export interface EnvironmentCheck {
  env?: E2eEnvironment;
  /** Why the suite cannot run, when it cannot. */
  missing?: string;
  /** The model is missing (a failure only where models are required). */
  modelMissing?: boolean;
  /** Only the model is missing: a skip even where e2e is required, unless models are required too. */
  onlyModelMissing?: boolean;
}

let cached: EnvironmentCheck | undefined;

/** Returns the environment, or the reason the suite cannot run here. */
export function findEnvironment(): EnvironmentCheck {
  if (cached) return cached;
  const problems: string[] = [];
  const modelMissing = !existsSync(path.join(modelDir, 'config.json'));
  if (!existsSync(chromiumPath)) problems.push(`chromium not found at ${chromiumPath} (apt-get install -y chromium)`);
  let entry = '';
  if (process.platform !== 'linux') {
    problems.push(`code-server install script supports Linux only (this is ${process.platform})`);
  } else {
    // Installs on first use (a few minutes), then prints the cached path at once.
    const r = spawnSync('bash', [path.join(repoRoot, 'scripts/code-server.sh')], { encoding: 'utf8', timeout: 15 * 60_000 });
    const lines = (r.stdout ?? '').trim().split('\n');
    entry = lines[lines.length - 1] ?? '';
    if (r.status !== 0 || !existsSync(entry)) {
      const tail = (r.stderr ?? '').trim().split('\n').slice(-5).join(' | ');
      problems.push(`code-server could not be installed (scripts/code-server.sh exited ${r.status ?? r.signal}): ${tail}`);
    }
  }
  if (modelMissing) {
    cached = { missing: [`model not found: ${modelDir} (set THINK_LENS_E2E_MODEL to a stories260k folder)`, ...problems].join('; '), modelMissing: true, onlyModelMissing: problems.length === 0 };
  } else {
    cached = problems.length ? { missing: problems.join('; ') } : { env: { codeServerEntry: entry, chromium: chromiumPath, modelDir } };
  }
  return cached;
}
