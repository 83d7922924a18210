// `think-lens serve` as users run it (bin/think-lens.mjs, a real child process): one line with the
// URL once listening, the API answering there, a clean stop on SIGTERM and SIGINT; a model it
// cannot load is one line on stderr and exit code 1, bad flags exit code 2.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { missingModel, STORIES } from '../../support/models';

const bin = resolve(__dirname, '../../../bin/think-lens.mjs');
const skip = missingModel(STORIES, 'stories260k');

interface Proc {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<number | null>;
}

function start(args: string[]): Proc {
  // MALLOC_MMAP_THRESHOLD_ set: bin/think-lens.mjs runs the CLI in its own process (no re-exec),
  // so the signals this test sends reach the server itself.
  const child = spawn(process.execPath, [bin, ...args], { cwd: tmpdir(), env: { ...process.env, THINK_LENS_DEBUG: '', MALLOC_MMAP_THRESHOLD_: '131072' } });
  const p: Proc = { child, stdout: '', stderr: '', exit: new Promise((ok) => child.on('exit', (code) => ok(code))) };
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (p.stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (p.stderr += s));
  return p;
}

/** The URL from the one line printed once listening. */
async function listening(p: Proc): Promise<string> {
  for (;;) {
    const m = /at (http:\/\/127\.0\.0\.1:\d+)\/v1\n/.exec(p.stdout);
    if (m) return m[1];
    const code = await Promise.race([p.exit, new Promise((r) => setTimeout(() => r('wait'), 20))]);
    if (code !== 'wait') throw new Error(`serve exited (${String(code)}) before listening: ${p.stderr}`);
  }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`serve prints its URL, answers there, and stops cleanly on ${signal}`, { skip }, async () => {
    const p = start(['serve', '--model', STORIES, '--port', '0', '--name', 'storyteller', '--prune-ratio', '0.25']);
    try {
      const url = await listening(p);
      assert.equal(p.stdout.trim().split('\n').length, 1, 'one line on stdout');
      const models = (await (await fetch(`${url}/v1/models`)).json()) as any;
      assert.equal(models.data[0].id, 'storyteller');
      const metrics = (await (await fetch(`${url}/metrics`)).json()) as any;
      assert.equal(metrics.think.ratio, 0.25, '--prune-ratio reaches the runtime');
      const res = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 3, temperature: 0 }) });
      assert.equal(res.status, 200);
      p.child.kill(signal);
      assert.equal(await p.exit, 0);
      assert.match(p.stderr, new RegExp(`stopped \\(${signal}\\)`));
      await assert.rejects(fetch(`${url}/v1/models`), 'nothing listens any more');
    } finally {
      p.child.kill('SIGKILL');
    }
  });
}

test('a model it cannot load: one line on stderr, exit 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'serve-bad-'));
  try {
    writeFileSync(join(dir, 'config.json'), '{ not json');
    const p = start(['serve', '--model', dir, '--port', '0']);
    assert.equal(await p.exit, 1);
    assert.equal(p.stdout, '');
    assert.equal(p.stderr.trim().split('\n').length, 1, p.stderr);
    assert.match(p.stderr, /^think-lens: .*config\.json/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad flags: exit 2 with a usage line', async () => {
  for (const args of [['serve'], ['serve', '--model', tmpdir(), '--port', '70000'], ['serve', '--model', tmpdir(), '--bogus']]) {
    const p = start(args);
    assert.equal(await p.exit, 2, args.join(' '));
    assert.match(p.stderr, /^think-lens: .*\(think-lens --help for usage\)\n$/);
  }
});
