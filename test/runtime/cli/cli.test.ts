// The `think-lens` CLI as users run it: bin/think-lens.mjs from the source tree (through tsx) and the
// esbuild bundle (cli.js + engineWorker.js), as real child processes. Greedy ids against
// stories260k's float64 references with and without ThinK; streamed text; bad input ends with one
// line on stderr and exit code 2 (usage) or 1 (model or prompt), never a stack trace; download
// against the local Hub server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import * as esbuild from 'esbuild';
import { convertToGguf } from '../../../scripts/bench/gguf';
import { STORIES, skipWithoutModel } from '../../support/models';
import { HubServer } from '../../support/hubServer';

const repoRoot = resolve(__dirname, '../../..');
const bin = join(repoRoot, 'bin/think-lens.mjs');

interface RefCase {
  prompt_ids: number[];
  ratio: number;
  window: number;
  recent: number;
  greedy_ids: number[];
}
const refCases = (): RefCase[] => JSON.parse(readFileSync(join(STORIES, 'reference.json'), 'utf8')).cases;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, command, { cwd: tmpdir(), env: { ...process.env, THINK_LENS_DEBUG: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', fail);
    child.on('close', (code) => ok({ code, stdout, stderr }));
  });
}

const cli = (...args: string[]) => run([bin, ...args]);

/** Exactly one line on stderr, nothing that looks like a stack frame, nothing on stdout. */
function assertOneLine(r: Run, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line on stderr, got: ${JSON.stringify(r.stderr)}`);
  assert.doesNotMatch(lines[0], /\bat .*:\d+:\d+|Error:/);
  assert.match(lines[0], pattern);
}

const temps: string[] = [];
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'think-lens-cli-'));
  temps.push(d);
  return d;
}

function thinkFlags(c: RefCase): string[] {
  // --flush 0: the references keep every generated key full, as the paper does.
  return ['--prune-ratio', String(c.ratio), '--obs-window', String(c.window), '--recent', String(c.recent), '--flush', '0'];
}

test('generate --json --prompt-ids 1 reproduces the greedy reference', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const c = refCases()[0];
  const r = await cli('generate', '--model', STORIES, '--prompt-ids', c.prompt_ids.join(','), '--max-new-tokens', String(c.greedy_ids.length), '--json', ...thinkFlags(c));
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'one JSON object on stdout');
  const out = JSON.parse(lines[0]);
  assert.deepEqual(out.ids, c.greedy_ids);
  assert.match(out.text, /^ ?Once upon a time, there was a little girl named Lily\. She loved to play outside in the park\. One day, she saw a big, red ball\./);
  for (const k of ['tokens', 'keyBytes', 'valueBytes', 'fullKeyBytes', 'pruneRatio']) assert.equal(typeof out.cache[k], 'number', `cache.${k}`);
  for (const k of ['loadMs', 'prefillMs', 'prefillTokensPerSec', 'decodeMsPerToken']) assert.equal(typeof out.timings[k], 'number', `timings.${k}`);
  assert.equal(out.cache.tokens, c.prompt_ids.length + c.greedy_ids.length);
  assert.equal(out.cache.keyBytes, out.cache.fullKeyBytes, 'ratio 0 prunes nothing');
});

test('generate with ThinK flags reproduces the pruned reference and stores fewer key bytes', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const c = refCases().find((x) => x.ratio > 0)!;
  const r = await cli('generate', '--model', STORIES, '--prompt-ids', c.prompt_ids.join(','), '--max-new-tokens', String(c.greedy_ids.length), '--json', ...thinkFlags(c));
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.ids, c.greedy_ids);
  assert.ok(out.cache.keyBytes < out.cache.fullKeyBytes, `keyBytes ${out.cache.keyBytes} < fullKeyBytes ${out.cache.fullKeyBytes}`);
  assert.equal(out.cache.pruneRatio, c.ratio);
});

test('without --json the text streams to stdout and a summary goes to stderr', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const r = await cli('generate', '--model', STORIES, '--prompt-ids', '1', '--max-new-tokens', '30');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ ?Once upon a time, there was a little girl named Lily\./);
  assert.match(r.stderr, /\[30 tokens, length; .*ms\/token; keys [\d.]+ (B|KiB|MiB) of [\d.]+ (B|KiB|MiB) unpruned .*values [\d.]+ (B|KiB|MiB);/);
});

test('a bad flag gets one line and exit code 2', async () => {
  assertOneLine(await cli('generate', '--model', STORIES, '--prompt', 'x', '--bogus'), 2, /^think-lens: unknown option --bogus \(think-lens --help for usage\)$/);
  assertOneLine(await cli('generate', '--model', STORIES, '--prompt-ids', '1', '--max-new-tokens', 'lots'), 2, /--max-new-tokens must be an integer >= 1 \(got "lots"\)/);
  assertOneLine(await cli('generate', '--model', STORIES), 2, /exactly one of --prompt TEXT or --prompt-ids CSV/);
  assertOneLine(await cli('frobnicate'), 2, /unknown command "frobnicate"/);
});

test('a missing model folder gets one line naming it and exit code 1', async () => {
  const missing = join(tmpdir(), 'think-lens-no-such-model');
  assertOneLine(await cli('generate', '--model', missing, '--prompt', 'hello'), 1, new RegExp(`^think-lens: ${missing}: model not found \\(--model takes a model folder or a \\.gguf file\\)$`));
});

test('a broken model (ModelError) gets one line naming the file and exit code 1', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'config.json'), '{"architectures": ["LlamaForCausalLM"], ');
  assertOneLine(await cli('generate', '--model', dir, '--prompt-ids', '1'), 1, new RegExp(`^think-lens: ${join(dir, 'config.json')}: `));
});

test('a prompt longer than the context gets one line and exit code 1', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const ids = new Array(600).fill(1).join(',');
  assertOneLine(await cli('generate', '--model', STORIES, '--prompt-ids', ids), 1, /^think-lens: the prompt has 600 tokens but the model's context holds 512/);
  // --context lowers the context for benchmarks; the check follows it.
  assertOneLine(await cli('generate', '--model', STORIES, '--prompt-ids', '1,2,3,4,5', '--context', '4'), 1, /context holds 4/);
});

test('the esbuild bundle (cli.js + engineWorker.js) runs generate like the sources', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  // Inside node_modules so the bundle resolves onnxruntime-node (kept external, as in the real build);
  // a fresh folder per run, so concurrent runs of this file do not share one.
  mkdirSync(join(repoRoot, 'node_modules/.cache'), { recursive: true });
  const out = mkdtempSync(join(repoRoot, 'node_modules/.cache/think-lens-cli-test-'));
  temps.push(out);
  // Named as scripts/build.mjs names them: dist/cli.js runs dist/engineWorker.js.
  for (const [name, entry] of [['cli', 'runtime/cli/main.ts'], ['engineWorker', 'runtime/host/engineWorker.ts']])
    await esbuild.build({
      absWorkingDir: repoRoot,
      entryPoints: { [name]: join(repoRoot, entry) },
      outdir: out,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: ['vscode', 'onnxruntime-node'],
      mainFields: ['main', 'module'],
      conditions: ['node', 'require'],
      logLevel: 'error',
    });
  const c = refCases()[0];
  const r = await run([join(out, 'cli.js'), 'generate', '--model', STORIES, '--prompt-ids', '1', '--max-new-tokens', '20', '--json', ...thinkFlags(c)]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).ids, c.greedy_ids.slice(0, 20));
  const bad = await run([join(out, 'cli.js'), 'generate', '--prompt', 'x']);
  assert.equal(bad.code, 2);
});

test('download fetches a repository from HF_ENDPOINT; offline gets the specific message', async () => {
  const weights = Buffer.alloc(300_000, 7);
  const hub = await HubServer.start('org/model', [
    { path: 'config.json', content: Buffer.from('{}') },
    { path: 'model.safetensors', content: weights, lfs: true },
  ]);
  const out = join(tempDir(), 'model');
  const endpoint = hub.url;
  try {
    const r = await run([bin, 'download', 'org/model', '--out', out], { HF_ENDPOINT: hub.url });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), out);
    assert.ok(readFileSync(join(out, 'model.safetensors')).equals(weights));
    assert.match(r.stderr, /2 files verified/);
    assert.match(r.stderr, /^model\.safetensors: 293\.0 KiB of 293\.0 KiB \(all: [\d.]+ KiB of [\d.]+ KiB, \d\/2 files\)$/m, 'progress in binary units');
  } finally {
    await hub.close();
  }
  // The same endpoint, now closed: connection refused.
  const offline = await run([bin, 'download', 'org/model', '--out', out + '2'], { HF_ENDPOINT: endpoint });
  assertOneLine(offline, 1, /^think-lens: cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\): .*Select Model Folder \/ --model DIR$/);
});

test('generate --model FILE.gguf: stories260k converted to GGUF by our llama.cpp-convention writer reproduces the greedy reference, and the prompt text goes through the GGUF tokenizer', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const gguf = join(tempDir(), 'stories260k-f32.gguf');
  convertToGguf(STORIES, gguf, { fileType: 'F32' });
  const c = refCases()[0];
  const r = await cli('generate', '--model', gguf, '--prompt-ids', c.prompt_ids.join(','), '--max-new-tokens', String(c.greedy_ids.length), '--json', ...thinkFlags(c));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()).ids, c.greedy_ids);
  const text = await cli('generate', '--model', gguf, '--prompt', 'Once upon a time', '--max-new-tokens', '12', '--json');
  assert.equal(text.code, 0, text.stderr);
  assert.match(JSON.parse(text.stdout.trim()).text, /\w+/);
});

test('models lists what Ollama and LM Studio downloaded (HOME and OLLAMA_MODELS honoured); nothing found says where it looked', async () => {
  const home = tempDir();
  const digest = 'ab'.repeat(32);
  const store = join(home, 'ollama-store');
  mkdirSync(join(store, 'manifests', 'registry.ollama.ai', 'library', 'qwen2.5-coder'), { recursive: true });
  writeFileSync(join(store, 'manifests', 'registry.ollama.ai', 'library', 'qwen2.5-coder', '0.5b'), JSON.stringify({ layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${digest}` }] }));
  mkdirSync(join(store, 'blobs'));
  writeFileSync(join(store, 'blobs', `sha256-${digest}`), Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(28)]));
  const lm = join(home, '.lmstudio', 'models', 'lmstudio-community', 'Qwen3-0.6B-GGUF');
  mkdirSync(lm, { recursive: true });
  writeFileSync(join(lm, 'Qwen3-0.6B-Q8_0.gguf'), Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(12)]));
  const r = await run([bin, 'models', '--json'], { HOME: home, OLLAMA_MODELS: store });
  assert.equal(r.code, 0, r.stderr);
  const found = JSON.parse(r.stdout).models.map((m: { source: string; name: string; bytes: number }) => [m.source, m.name, m.bytes]);
  assert.deepEqual(found, [
    ['ollama', 'qwen2.5-coder:0.5b', 32],
    ['lmstudio', 'lmstudio-community/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf', 16],
  ]);
  const empty = await run([bin, 'models'], { HOME: tempDir(), OLLAMA_MODELS: '' });
  assert.equal(empty.code, 0);
  assert.match(empty.stderr, /no GGUF models found in Ollama's \(.*\.ollama\/models.*\) or LM Studio's \(.*\.lmstudio\/models.*\) stores/);
});
