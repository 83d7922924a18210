// One editor session for a test file: the packaged VSIX installed into a fresh code-server,
// stories260k configured as the model, the fixture workspace opened in chromium.

import { CodeServer } from './codeServer';
import { e2eRequired, findEnvironment, fixtureWorkspace, type E2eEnvironment } from './environment';
import { modelsRequired } from '../../support/models';
import { ensureVsix } from './vsix';
import { Workbench } from './workbench';

/** The prune ratio the suite configures; not the default (0.5), so the panels must show ours. */
export const configuredPruneRatio = 0.25;

export interface Session {
  env: E2eEnvironment;
  server: CodeServer;
  workbench: Workbench;
  close(): Promise<void>;
}

/** Why the suite cannot run on this machine, or undefined. Throws instead where e2e (or, for a missing model, models) are required. */
export function skipReason(): string | undefined {
  const { missing, modelMissing, onlyModelMissing } = findEnvironment();
  if (!missing) return undefined;
  if (e2eRequired && !onlyModelMissing) throw new Error(`THINK_LENS_E2E_REQUIRED=1 but the end-to-end suite cannot run: ${missing}`);
  if (modelMissing && modelsRequired()) throw new Error(`models are required here (CI=true or THINK_LENS_MODELS_REQUIRED=1) but the end-to-end suite cannot run: ${missing}`);
  return `end-to-end suite skipped: ${missing}`;
}

export async function openSession(opts: { label: string; trusted: boolean; log: (m: string) => void }): Promise<Session> {
  const { env, missing } = findEnvironment();
  if (!env) throw new Error(`e2e environment missing: ${missing}`);
  const vsix = ensureVsix(opts.log);
  const server = new CodeServer({
    entry: env.codeServerEntry,
    vsix,
    workspaceSource: fixtureWorkspace,
    trusted: opts.trusted,
    label: opts.label,
    settings: {
      'thinkLens.model': env.modelDir,
      'thinkLens.pruneRatio': configuredPruneRatio,
      // Short answers: with 128, Summarize File's part summaries no longer fit stories260k's
      // 512-token context together.
      'thinkLens.maxNewTokens': 64,
      // A quiet, deterministic workbench: no welcome page, tips, update or telemetry traffic.
      'workbench.startupEditor': 'none',
      'workbench.welcomePage.walkthroughs.openOnInstall': false,
      'workbench.tips.enabled': false,
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'extensions.autoUpdate': false,
      'extensions.autoCheckUpdates': false,
      'extensions.ignoreRecommendations': true,
      'chat.commandCenter.enabled': false,
      'workbench.secondarySideBar.defaultVisibility': 'hidden',
      // Untrusted sessions: no modal on start, the folder simply opens in Restricted Mode.
      'security.workspace.trust.startupPrompt': 'never',
      'security.workspace.trust.banner': 'always',
    },
  });
  try {
    await server.start();
    const workbench = await Workbench.open(env.chromium, server.url);
    return {
      env,
      server,
      workbench,
      async close() {
        await workbench.close().catch(() => undefined);
        await server.stop();
      },
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}
