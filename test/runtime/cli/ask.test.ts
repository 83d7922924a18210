// `think-lens ask`, the README's main job: a real repository in, an answer, cache figures and a
// per-head mask summary out; offline, it falls back to the model at hand with a clear line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { STORIES, skipWithoutModel } from '../../support/models';

const cli = resolve(__dirname, '../../../bin/think-lens.mjs');
const repo = resolve(__dirname, '../../fixtures/e2e-workspace');

function run(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [cli, 'ask', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
}

/** A loopback port with nothing listening: connections are refused, as offline. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

test('ask --model: packs ranked files, answers, prints cache figures and one mask line per layer', (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const r = run(['--repo', repo, '--model', STORIES, '--question', 'How are sections parsed?', '--max-new-tokens', '12']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /context: [1-9]\d* of \d+ files, \d+ tokens, budget \d+/);
  assert.match(r.stdout, /cache: \d+ tokens \(\d+ pruned, \d+ full-key\); keys [\d.]+ (B|KiB|MiB) of [\d.]+ (B|KiB|MiB) unpruned/);
  assert.match(r.stderr, /-limited, 256\.0 MiB\)/, 'the budget in MiB');
  assert.match(r.stdout, /ThinK: ratio 0\.50/);
  // The default float16 cache against llama.cpp's default F16 cache: a compressed token is
  // (4 kept + 8) channels x 2 bytes per head against 16 x 2, 0.75x; the whole cache a little more
  // (the recent full-key tokens and the channel indices).
  assert.match(r.stdout, /stored as float16/);
  const size = /cache size: ([\d,]+) bytes per token, ([\d.]+)x llama\.cpp's default F16 cache \(640\); a compressed token 480 bytes \(0\.750x\)/.exec(r.stdout);
  assert.ok(size, r.stdout);
  assert.ok(Number(size[2]) > 0.75 && Number(size[2]) < 0.85, `whole cache ${size[2]}x`);
  const layers = r.stdout.split('\n').filter((l) => /^L\d+ {2}h0 4\/8 \[\d(,\d){3}\]/.test(l));
  assert.equal(layers.length, 5, r.stdout);
});

test('ask --kv-bits 4: ThinK 0.5 + KIVI 4-bit, at most 0.35x of llama.cpp\'s F16 cache per compressed token', (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const r = run(['--repo', repo, '--model', STORIES, '--question', 'How are sections parsed?', '--max-new-tokens', '8', '--kv-bits', '4']);
  assert.equal(r.status, 0, r.stderr);
  const size = /cache size: ([\d,]+) bytes per token, ([\d.]+)x llama\.cpp's default F16 cache \(640\); a compressed token ([\d,.]+) bytes \(([\d.]+)x\)/.exec(r.stdout);
  assert.ok(size, r.stdout);
  assert.ok(Number(size[4]) <= 0.35, `a compressed token ${size[4]}x`);
});

test('ask --cache-precision float32: the float32 cache, named and twice the bytes', (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const r = run(['--repo', repo, '--model', STORIES, '--question', 'How are sections parsed?', '--max-new-tokens', '4', '--cache-precision', 'float32']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /stored as float32/);
  assert.match(r.stdout, /a compressed token 960 bytes \(1\.500x\)/);
  const bad = run(['--repo', repo, '--model', STORIES, '--question', 'q', '--cache-precision', 'fp8']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--cache-precision must be float16 or float32 \(got "fp8"\)/);
});

test('ask says so when no file fits the budget, and still answers', (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const r = run(['--repo', repo, '--model', STORIES, '--question', 'How are sections parsed?', '--max-new-tokens', '250']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /files: none fit the \d+-token budget \(the model's context is 512 tokens\)/);
  assert.match(r.stdout, /cache: \d+ tokens/);
});

test('ask without --model, offline: falls back to the model at hand and says so', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const cache = mkdtempSync(join(tmpdir(), 'think-ask-'));
  try {
    const r = run(['--repo', repo, '--question', 'What does parse do?', '--max-new-tokens', '4'], {
      HF_ENDPOINT: `http://127.0.0.1:${await closedPort()}`,
      THINK_LENS_CACHE: cache,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /the Hub cannot be reached; using the model at hand: .*stories260k/);
    assert.match(r.stdout, /masks \(kept key channels/);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('ask with bad input: one line, usage exit code', () => {
  const r = run(['--repo', repo]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /ask needs --question TEXT/);
  const missing = run(['--repo', '/nonexistent/repo', '--question', 'x']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /\/nonexistent\/repo: repository folder not found/);
});
