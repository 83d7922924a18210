#!/usr/bin/env node
// Runs the test files (test/**/*.test.ts) with Node's own test runner through tsx, tier by tier,
// after a full type check, and ends with ONE summary in Node's format ("ℹ tests N" ... "ℹ fail N"):
// CI reads the run's closing lines.
//
//   node test/run.mjs                     the fast tier (the daily loop), files in parallel
//   node test/run.mjs --tier e2e|webgpu|bench|all
//   node test/run.mjs SUBSTRING...        only the files whose path contains one of them, from
//                                         every tier (or from --tier's); no type check
//   node test/run.mjs --list [--tier T]   which files each tier holds
//
// Tier membership is declared once, below, by path; every file not named there is in `fast`.
// `fast` runs its files in parallel (one process each, as many at once as there are cores, or
// THINK_LENS_TEST_CONCURRENCY), so a fast test must not share anything with another file: no
// fixed ports, no fixed folders (dist/, out/, test-artifacts/ names), no timing assertions. The
// other tiers run one file at a time.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The tiers other than `fast`: path prefixes (a folder ends with '/'), and why each is apart. */
const TIERS = {
  // A real editor or browser: code-server and desktop VS Code drive the packaged extension;
  // packaging writes dist/ and out/ (so these never run two at once); the webview tests drive
  // headless Chromium.
  e2e: [
    'test/e2e/',
    'test/integration/',
    'test/scripts/package.test.ts',
    'test/media/answerWebview.test.ts',
    'test/media/answerXss.test.ts',
    'test/media/inspectorWebview.test.ts',
  ],
  // The WebGPU execution provider (a GPU, or Mesa's lavapipe on the CPU: slow).
  webgpu: ['test/runtime/engine/webgpu.test.ts'],
  // The benchmark harness end to end (llama.cpp through node-llama-cpp, WebGPU, GGUF export).
  bench: ['test/scripts/bench.test.ts', 'test/scripts/bench/'],
};
const SERIAL = ['e2e', 'webgpu', 'bench'];
const ALL_TIERS = ['fast', ...SERIAL];

function usage(msg) {
  console.error(`test/run.mjs: ${msg}\nusage: node test/run.mjs [--tier ${[...ALL_TIERS, 'all'].join('|')}] [--list] [PATH-SUBSTRING...]`);
  process.exit(2);
}

let tier;
let list = false;
const only = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--tier') tier = argv[++i] ?? usage('--tier needs a value');
  else if (a.startsWith('--tier=')) tier = a.slice('--tier='.length);
  else if (a === '--list') list = true;
  else if (a.startsWith('--')) usage(`unknown option ${a}`);
  else only.push(a);
}
if (tier !== undefined && tier !== 'all' && !ALL_TIERS.includes(tier)) usage(`unknown tier "${tier}"`);
// A bare run is the fast tier; a filtered one looks in every tier unless one is named.
const tiers = tier === 'all' || (tier === undefined && only.length) ? ALL_TIERS : [tier ?? 'fast'];

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p).split(sep).join('/'));
  }
  return out;
}

function tierOf(file) {
  for (const t of SERIAL) if (TIERS[t].some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p))) return t;
  return 'fast';
}

const byTier = Object.fromEntries(ALL_TIERS.map((t) => [t, []]));
for (const f of find(join(root, 'test')).sort()) {
  if (only.length && !only.some((o) => f.includes(o))) continue;
  byTier[tierOf(f)].push(f);
}

if (list) {
  for (const t of tiers) console.log(`${t} (${byTier[t].length}):\n${byTier[t].map((f) => `  ${f}`).join('\n')}`);
  process.exit(0);
}

const concurrency = Number(process.env.THINK_LENS_TEST_CONCURRENCY) || availableParallelism();
// One invocation of the runner per group: the fast files in parallel, all the others one at a time.
const serial = SERIAL.filter((t) => tiers.includes(t) && byTier[t].length);
const groups = [
  { name: 'fast', files: tiers.includes('fast') ? byTier.fast : [], concurrency },
  { name: serial.join('+'), files: serial.flatMap((t) => byTier[t]), concurrency: 1 },
].filter((g) => g.files.length);
if (!groups.length) {
  console.error(`test/run.mjs: no test file in tier ${tiers.join('+')}${only.length ? ` matches ${only.join(' ')}` : ''}`);
  process.exit(1);
}

if (!only.length && !process.env.SKIP_TYPECHECK) {
  const tc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', '.', '--noEmit'], { cwd: root, stdio: 'inherit' });
  if (tc.status !== 0) {
    console.error('typecheck failed');
    process.exit(tc.status ?? 1);
  }
}

const KEYS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo', 'duration_ms'];
const total = Object.fromEntries(KEYS.map((k) => [k, 0]));
let failed = false;
const tmp = mkdtempSync(join(tmpdir(), 'think-lens-test-run-'));
try {
  for (const [i, g] of groups.entries()) {
    console.log(`\n▶ ${g.name}: ${g.files.length} test file${g.files.length === 1 ? '' : 's'}, ${g.concurrency} at a time\n`);
    const countsFile = join(tmp, `counts-${i}.json`);
    const args = [
      '--import', 'tsx',
      '--import', './test/support/vscodeLoader.mjs',
      '--test',
      `--test-concurrency=${g.concurrency}`,
      '--test-reporter=./test/support/specReporter.mjs',
      ...g.files,
    ];
    const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, THINK_LENS_TEST_COUNTS: countsFile } });
    let counts;
    try {
      counts = JSON.parse(readFileSync(countsFile, 'utf8'));
    } catch {
      console.error(`test/run.mjs: the ${g.name} group ended (${r.status ?? r.signal}) without its summary`);
      failed = true;
      continue;
    }
    for (const k of KEYS) total[k] += counts[k] ?? 0;
    if (r.status !== 0 || counts.fail) failed = true;
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// The run's closing lines, as Node's runner prints them.
for (const k of KEYS) console.log(`ℹ ${k} ${k === 'duration_ms' ? Math.round(total[k] * 1000) / 1000 : total[k]}`);
process.exit(failed ? 1 : 0);
