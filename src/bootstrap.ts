// Finds how to start the runtime process. Packaged (the VSIX): `dist/runtime.js`, run by the
// editor's own executable as plain Node (ELECTRON_RUN_AS_NODE=1), so users need no Node install.
// Source tree (tests, extension development): `runtime/host/main.ts` through tsx.

import * as fs from 'node:fs';
import * as path from 'node:path';

export interface RuntimeLaunch {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** For the log: which entry was chosen and why. */
  description: string;
}

export interface BootstrapDeps {
  execPath?: string;
  exists?: (p: string) => boolean;
  env?: NodeJS.ProcessEnv;
  /**
   * 'source' when running from a checkout (extension development, tests): a `dist/` left by an
   * earlier build may be stale, so the sources win when both exist.
   */
  prefer?: 'bundled' | 'source';
}

export class RuntimeNotFoundError extends Error {
  constructor(extensionPath: string) {
    super(
      `ThinK Lens runtime not found: neither ${path.join(extensionPath, 'dist', 'runtime.js')} (packaged) ` +
        `nor ${path.join(extensionPath, 'runtime', 'host', 'main.ts')} (source tree) exists. Reinstall the extension.`,
    );
    this.name = 'RuntimeNotFoundError';
  }
}

export function findRuntime(extensionPath: string, deps: BootstrapDeps = {}): RuntimeLaunch {
  const exists = deps.exists ?? fs.existsSync;
  const execPath = deps.execPath ?? process.execPath;
  // Inside VS Code, process.execPath is Electron; this flag makes it behave as Node. Under plain
  // Node (tests, code-server's extension host) the flag is ignored.
  // A fixed glibc mmap threshold: large cache buffers freed by pruning go back to the system at
  // once (the default dynamic threshold keeps them in the heap, so RSS would not show the saving).
  const env: NodeJS.ProcessEnv = { MALLOC_MMAP_THRESHOLD_: '131072', ...(deps.env ?? process.env), ELECTRON_RUN_AS_NODE: '1' };
  const bundled = path.join(extensionPath, 'dist', 'runtime.js');
  const source = path.join(extensionPath, 'runtime', 'host', 'main.ts');
  const fromBundle = (): RuntimeLaunch => ({ command: execPath, args: [bundled], cwd: extensionPath, env, description: `bundled runtime ${bundled}` });
  // `--import tsx` is resolved from cwd, the extension folder, where tsx is a devDependency.
  const fromSource = (): RuntimeLaunch => ({ command: execPath, args: ['--import', 'tsx', source], cwd: extensionPath, env, description: `source runtime ${source} (tsx)` });
  const order = deps.prefer === 'source' ? [[source, fromSource], [bundled, fromBundle]] as const : [[bundled, fromBundle], [source, fromSource]] as const;
  for (const [file, make] of order) if (exists(file)) return make();
  throw new RuntimeNotFoundError(extensionPath);
}
