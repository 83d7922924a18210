#!/usr/bin/env node
// The `think-lens` command. In a source checkout it runs runtime/cli/main.ts through tsx (a dist/ left
// by an earlier build may be stale, so the sources win); in an installed package without sources
// it runs the bundle, dist/cli.js. THINK_LENS_CLI=bundle forces the bundle.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// Large cache buffers freed by pruning should leave the process at once; glibc's default dynamic
// mmap threshold keeps them in the heap. The setting is read at process start, hence the re-exec.
if (process.env.MALLOC_MMAP_THRESHOLD_ === undefined && process.platform === 'linux') {
  // Ctrl-C is the child's to handle (it cancels cleanly); this process just waits for it.
  process.on('SIGINT', () => {});
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '131072' },
  });
  process.exit(r.status ?? 1);
}

const require = createRequire(import.meta.url);
const source = fileURLToPath(new URL('../runtime/cli/main.ts', import.meta.url));
const bundle = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function tsxHook() {
  try {
    return require.resolve('tsx/cjs');
  } catch {
    return null;
  }
}

let entry;
const hook = process.env.THINK_LENS_CLI === 'bundle' ? null : tsxHook();
if (hook && existsSync(source)) {
  // Our .ts files are CommonJS (no "type": "module"), so tsx's require hook is all they need.
  require(hook);
  entry = source;
} else if (existsSync(bundle)) {
  entry = bundle;
} else {
  process.stderr.write(`think-lens: neither ${bundle} (run npm run build) nor ${source} with tsx installed is available\n`);
  process.exit(1);
}
const { main } = require(entry);
process.exitCode = await main(process.argv.slice(2));
