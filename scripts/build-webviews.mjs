#!/usr/bin/env node
// Bundles the two webview scripts (media/answer/main.ts, media/inspector/main.ts) with esbuild into
// dist/media/answer.js and dist/media/inspector.js: one self-contained IIFE each, for the browser,
// nothing loaded at run time (the CSP allows only these nonce'd scripts). Stylesheets are served
// straight from media/*.css.
//
//   node scripts/build-webviews.mjs [--minify] [--sourcemap] [--watch] [--outdir DIR]
//   import { buildWebviews } from './build-webviews.mjs'   (the main build calls this)
import { build, context } from 'esbuild';
import { relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Output name -> entry module, relative to the repository root. */
export const WEBVIEW_ENTRIES = Object.freeze({
  answer: 'media/answer/main.ts',
  inspector: 'media/inspector/main.ts',
});

function options({ root = repoRoot, outdir, outDir, minify = false, sourcemap = false } = {}) {
  outdir ??= outDir; // scripts/build.mjs spells it outDir
  return {
    absWorkingDir: root,
    entryPoints: Object.fromEntries(Object.entries(WEBVIEW_ENTRIES).map(([name, entry]) => [name, resolve(root, entry)])),
    outdir: outdir ?? resolve(root, 'dist/media'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    // VS Code 1.100's Electron ships Chromium 134; Debian's chromium for the tests is newer.
    target: ['chrome120'],
    minify,
    sourcemap: sourcemap ? 'linked' : false,
    logLevel: 'warning',
    metafile: true,
  };
}

/**
 * Builds both webview bundles. Returns the output folder and the files written.
 * @param {{ root?: string, outdir?: string, outDir?: string, minify?: boolean, sourcemap?: boolean, log?: (m: string) => void }} [opts]
 */
export async function buildWebviews(opts = {}) {
  const o = options(opts);
  const result = await build(o);
  const files = Object.keys(result.metafile.outputs).map((f) => resolve(o.absWorkingDir, f));
  for (const f of files) opts.log?.(`  webview bundle ${f} (${(result.metafile.outputs[relativeTo(o.absWorkingDir, f)]?.bytes ?? 0) >> 10} KiB)`);
  return { outdir: o.outdir, files };
}

function relativeTo(root, file) {
  return relative(root, file).split(sep).join('/');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--outdir');
  const opts = {
    minify: args.includes('--minify'),
    sourcemap: args.includes('--sourcemap'),
    outdir: at >= 0 ? resolve(args[at + 1] ?? '') : undefined,
  };
  if (at >= 0 && !args[at + 1]) {
    console.error('build-webviews: --outdir needs a folder');
    process.exit(2);
  }
  if (args.includes('--watch')) {
    const ctx = await context(options(opts));
    await ctx.watch();
    console.log('build-webviews: watching media/ for changes');
  } else {
    const { files } = await buildWebviews(opts);
    for (const f of files) console.log(`build-webviews: wrote ${f}`);
  }
}
