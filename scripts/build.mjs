#!/usr/bin/env node
// Builds everything the packaged extension runs: esbuild bundles of the extension host entry,
// the runtime process, its engine worker and the CLI (CommonJS, Node 20), plus the webview
// bundles (scripts/build-webviews.mjs). `vscode` is provided by the host and `onnxruntime-node`
// loads a native binding by relative path, so both stay external; the binding ships as real files
// in the VSIX (see .vscodeignore). Every other dependency is bundled in.
import { existsSync, rmSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** What gets bundled: source entry -> output file, both relative to the repository root. */
export const nodeEntries = [
  { entry: 'src/main.ts', out: 'dist/extension.js' },
  { entry: 'runtime/host/main.ts', out: 'dist/runtime.js' },
  { entry: 'runtime/host/engineWorker.ts', out: 'dist/engineWorker.js' },
  { entry: 'runtime/cli/main.ts', out: 'dist/cli.js' },
];

export const externals = ['vscode', 'onnxruntime-node'];

const webviewScript = 'scripts/build-webviews.mjs';

/**
 * Builds every entry that exists, then throws one error naming every entry that was missing,
 * so a partial tree still gets as far as it can but never passes for a complete build.
 */
export async function build({ root = repoRoot, log = (m) => console.log(m), sourcemap = true } = {}) {
  const dist = join(root, 'dist');
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });
  const missing = [];

  for (const { entry, out } of nodeEntries) {
    const src = join(root, entry);
    if (!existsSync(src)) {
      missing.push(entry);
      continue;
    }
    const t0 = Date.now();
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: [src],
      outfile: join(root, out),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: externals,
      // Maps help debugging a local build; .vscodeignore keeps them out of the VSIX.
      sourcemap: sourcemap ? 'linked' : false,
      // Packages such as @huggingface/tokenizers publish a separate CJS build under the
      // "require" condition; prefer it so nothing depends on top-level await or import.meta.
      mainFields: ['main', 'module'],
      conditions: ['node', 'require'],
      logLevel: 'warning',
      metafile: true,
    });
    const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + (o.bytes ?? 0), 0);
    log(`built ${out} from ${entry} (${(bytes / 1024).toFixed(0)} KiB with map, ${Date.now() - t0} ms)`);
  }

  const webviews = join(root, webviewScript);
  if (!existsSync(webviews)) {
    missing.push(webviewScript);
  } else {
    const mod = await import(pathToFileURL(webviews).href);
    const fn = mod.buildWebviews ?? mod.default;
    if (typeof fn !== 'function') {
      throw new Error(`${webviewScript} exports no buildWebviews() (nor a default function); exports: ${Object.keys(mod).join(', ') || 'none'}`);
    }
    const t0 = Date.now();
    await fn({ root, outDir: join(dist, 'media'), log });
    log(`built dist/media via ${webviewScript} (${Date.now() - t0} ms)`);
  }

  if (missing.length) {
    throw new Error(`build incomplete: missing entr${missing.length === 1 ? 'y' : 'ies'} ${missing.join(', ')} (under ${relative(process.cwd(), root) || '.'})`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  build({ sourcemap: !process.argv.includes('--no-sourcemap') }).catch((err) => {
    console.error(`build failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
