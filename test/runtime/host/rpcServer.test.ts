// The runtime process (runtime/host/main.ts through tsx) driven over real stdio JSON-RPC with
// vscode-jsonrpc, on the real stories260k model: streamed tokens, stats and cancel answered while
// the engine works, Busy, ContextOverflow, StaleCache, ModelInvalid, NotLoaded, unload, clean exit on EOF, and
// a stdout that carries nothing but JSON-RPC frames.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import * as rpc from 'vscode-jsonrpc/node';
import { Rpc, RpcErrors, type GenerateResult, type LoadResult, type ProgressNotification, type RpcNotifications, type RuntimeStats, type TokenNotification } from '../../../core/protocol/rpc';
import { STORIES, skipWithoutModel } from '../../support/models';

const repoRoot = resolve(__dirname, '../../..');
const present = existsSync(STORIES);

let child: ChildProcessWithoutNullStreams;
let conn: rpc.MessageConnection;
let stdoutBytes: Buffer[] = [];
let stderr = '';
const tokens: TokenNotification[] = [];
const progress: ProgressNotification[] = [];
const logs: RpcNotifications['log'][] = [];
let onProgress: (p: ProgressNotification) => void = () => {};
let onToken: (n: TokenNotification) => void = () => {};

before(() => {
  child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'runtime/host/main.ts')], { cwd: repoRoot, stdio: 'pipe' });
  // Tee stdout: one copy feeds the client, the other is checked to hold only JSON-RPC frames.
  const forClient = new PassThrough();
  child.stdout.on('data', (b: Buffer) => {
    stdoutBytes.push(b);
    forClient.write(b);
  });
  child.stdout.on('end', () => forClient.end());
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  conn = rpc.createMessageConnection(new rpc.StreamMessageReader(forClient), new rpc.StreamMessageWriter(child.stdin));
  conn.onNotification(Rpc.token, (n: TokenNotification) => {
    tokens.push(n);
    onToken(n);
  });
  conn.onNotification(Rpc.progress, (p: ProgressNotification) => {
    progress.push(p);
    onProgress(p);
  });
  conn.onNotification(Rpc.log, (l: RpcNotifications['log']) => logs.push(l));
  conn.listen();
});

after(() => {
  conn.dispose();
  if (child.exitCode === null) child.kill('SIGKILL');
});

async function rpcError(p: Promise<unknown>): Promise<rpc.ResponseError<unknown>> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof rpc.ResponseError, `expected a JSON-RPC error, got ${String(e)}`);
    return e;
  }
  assert.fail('the request succeeded');
}

function oneLine(message: string): void {
  assert.ok(!message.includes('\n'), `one line: ${JSON.stringify(message)}`);
  assert.ok(!/\bat .+:\d+:\d+/.test(message), `no stack frames: ${message}`);
}

test('requests before load: stats says not loaded, generate gets NotLoaded', async () => {
  const stats = await conn.sendRequest<RuntimeStats>(Rpc.stats);
  assert.equal(stats.loaded, false);
  assert.equal(stats.busy, false);
  assert.ok(stats.rssBytes > 0);
  const e = await rpcError(conn.sendRequest(Rpc.generate, { requestId: 'x', prompt: { ids: [1] } }));
  assert.equal(e.code, RpcErrors.NotLoaded);
});

test('a broken model folder gets ModelInvalid with one line naming the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'think-lens-rpc-'));
  try {
    writeFileSync(join(dir, 'config.json'), '{ not json');
    const e = await rpcError(conn.sendRequest(Rpc.load, { modelDir: dir }));
    assert.equal(e.code, RpcErrors.ModelInvalid);
    assert.ok(e.message.includes(join(dir, 'config.json')), e.message);
    oneLine(e.message);
    const bad = await rpcError(conn.sendRequest(Rpc.load, { nope: 1 }));
    assert.equal(bad.code, rpc.ErrorCodes.InvalidParams);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('load, then generate streams tokens whose text is the result text (greedy reference)', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const ref = JSON.parse(readFileSync(join(STORIES, 'reference.json'), 'utf8')).cases[0] as { prompt_ids: number[]; greedy_ids: number[]; ratio: number; window: number; recent: number };
  const loaded = await conn.sendRequest<LoadResult>(Rpc.load, { modelDir: STORIES, think: { ratio: ref.ratio, window: ref.window, recent: ref.recent } });
  assert.equal(loaded.model.architecture, 'LlamaForCausalLM');
  tokens.length = 0;
  progress.length = 0;
  const result = await conn.sendRequest<GenerateResult>(Rpc.generate, { requestId: 'g1', prompt: { ids: ref.prompt_ids }, maxNewTokens: ref.greedy_ids.length });
  assert.deepEqual(result.ids, ref.greedy_ids);
  assert.ok(tokens.length > 10 && tokens.every((n) => n.requestId === 'g1'));
  assert.equal(tokens.map((n) => n.text).join(''), result.text);
  assert.match(result.text, /^ ?Once upon a time/);
  assert.ok(progress.some((p) => p.phase === 'decode') && progress.at(-1)!.phase === 'done');
  const idle = await conn.sendRequest<RuntimeStats>(Rpc.stats);
  assert.equal(idle.busy, false);
  assert.equal(idle.cache?.tokens, ref.prompt_ids.length + ref.greedy_ids.length);
});

test('stats and cancel answer while a generate runs; a second generate gets Busy', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const order: string[] = [];
  // A holder object: TypeScript does not see assignments made inside callbacks to a `let`.
  const box: { during?: Promise<[RuntimeStats, rpc.ResponseError<unknown>, { cancelled: boolean }]> } = {};
  onToken = () => {
    if (box.during) return;
    box.during = (async () => {
      const stats = await conn.sendRequest<RuntimeStats>(Rpc.stats);
      order.push('stats');
      const busy = await rpcError(conn.sendRequest(Rpc.generate, { requestId: 'second', prompt: { ids: [1] } }));
      const cancel = await conn.sendRequest<{ cancelled: boolean }>(Rpc.cancel, { requestId: 'long' });
      order.push('cancel');
      return [stats, busy, cancel];
    })();
  };
  const result = await conn.sendRequest<GenerateResult>(Rpc.generate, { requestId: 'long', prompt: { ids: [1] }, maxNewTokens: 450 });
  order.push('generate');
  onToken = () => {};
  assert.ok(box.during, 'tokens were streamed');
  const [stats, busy, cancel] = await box.during;
  assert.deepEqual(order, ['stats', 'cancel', 'generate']);
  assert.equal(stats.busy, true);
  assert.equal(stats.loaded, true);
  assert.ok(stats.cache && stats.cache.tokens >= 1, 'stats while busy reports the cache from the latest progress');
  assert.equal(busy.code, RpcErrors.Busy);
  oneLine(busy.message);
  assert.equal(cancel.cancelled, true);
  assert.equal(result.finishReason, 'cancelled');
  assert.ok(result.ids.length < 450);
});

test('stats and cancel answer during a long prefill', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  await conn.sendRequest(Rpc.load, { modelDir: STORIES, prefillChunk: 1 });
  const prompt = Array.from({ length: 480 }, (_, i) => (i === 0 ? 1 : 300 + (i % 200)));
  const box: { during?: Promise<RuntimeStats> } = {};
  onProgress = (p) => {
    if (p.phase !== 'prefill' || box.during) return;
    box.during = (async () => {
      const stats = await conn.sendRequest<RuntimeStats>(Rpc.stats);
      await conn.sendRequest(Rpc.cancel, { requestId: 'prefill' });
      return stats;
    })();
  };
  const result = await conn.sendRequest<GenerateResult>(Rpc.generate, { requestId: 'prefill', prompt: { ids: prompt }, maxNewTokens: 8 });
  onProgress = () => {};
  assert.ok(box.during, 'progress was reported during prefill');
  const stats = await box.during;
  assert.equal(stats.busy, true);
  assert.equal(result.finishReason, 'cancelled');
  assert.deepEqual(result.ids, []);
  const prefilled = Math.max(...progress.filter((p) => p.requestId === 'prefill').map((p) => p.processed));
  assert.ok(prefilled < prompt.length, 'the prefill stopped before its end');
});

test('follow-ups name the cache handle: the right one extends; a stale one, none, or one a prefill cancel dropped gets StaleCache', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  // Loaded with a one-token prefill chunk by the test before: a cancel lands while the prompt is read.
  const first = await conn.sendRequest<GenerateResult>(Rpc.generate, { requestId: 'h1', prompt: { ids: [1, 300, 301] }, maxNewTokens: 3 });
  assert.ok(typeof first.cacheId === 'string' && first.cacheId, 'the result names its cache');
  const next = await conn.sendRequest<GenerateResult>(Rpc.generate, { requestId: 'h2', prompt: { ids: [302] }, maxNewTokens: 2, cache: { extend: first.cacheId } });
  assert.equal(next.cacheId, first.cacheId, 'extending keeps the handle');
  assert.equal(next.cache.tokens, 3 + 3 + 1 + 2);

  const other = await conn.sendRequest<GenerateResult>(Rpc.generate, { requestId: 'h3', prompt: { ids: [1, 310] }, maxNewTokens: 2 });
  assert.notEqual(other.cacheId, first.cacheId, 'a fresh cache gets a new handle');
  const stale = await rpcError(conn.sendRequest(Rpc.generate, { requestId: 'h4', prompt: { ids: [302] }, cache: { extend: first.cacheId } }));
  assert.equal(stale.code, RpcErrors.StaleCache);
  assert.deepEqual(stale.data, { asked: first.cacheId, held: other.cacheId });
  assert.equal(stale.message, `cache ${first.cacheId} is not held: the runtime holds cache ${other.cacheId}; send the whole prompt again with cache 'reset'`);
  oneLine(stale.message);
  const missing = await rpcError(conn.sendRequest(Rpc.generate, { requestId: 'h5', prompt: { ids: [302] }, cache: 'extend' }));
  assert.equal(missing.code, RpcErrors.StaleCache);
  assert.deepEqual(missing.data, { asked: null, held: other.cacheId });
  assert.match(missing.message, /^the follow-up names no cache handle/);
  const malformed = await rpcError(conn.sendRequest(Rpc.generate, { requestId: 'h6', prompt: { ids: [302] }, cache: 'keep' }));
  assert.equal(malformed.code, rpc.ErrorCodes.InvalidParams);

  // Stop while the follow-up's prompt is read: the cache it was extending is gone, and so is its handle.
  const prompt = Array.from({ length: 300 }, (_, i) => 300 + (i % 200));
  onProgress = (p) => {
    if (p.requestId === 'h7' && p.phase === 'prefill') void conn.sendRequest(Rpc.cancel, { requestId: 'h7' });
  };
  const cancelled = await conn.sendRequest<GenerateResult>(Rpc.generate, { requestId: 'h7', prompt: { ids: prompt }, maxNewTokens: 2, cache: { extend: other.cacheId } });
  onProgress = () => {};
  assert.equal(cancelled.finishReason, 'cancelled');
  assert.ok(cancelled.ids.length === 0 && cancelled.cacheId === null, 'a half-read prompt leaves no handle');
  const after = await rpcError(conn.sendRequest(Rpc.generate, { requestId: 'h8', prompt: { ids: [302] }, cache: { extend: other.cacheId } }));
  assert.equal(after.code, RpcErrors.StaleCache);
  assert.deepEqual(after.data, { asked: other.cacheId, held: null });
  assert.match(after.message, /the runtime holds no reusable cache/);
});

test('unload during a generate cancels it first, then unloads', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  await conn.sendRequest(Rpc.load, { modelDir: STORIES });
  const box: { unloaded?: Promise<unknown> } = {};
  onToken = () => {
    box.unloaded ??= conn.sendRequest(Rpc.unload);
  };
  const result = await conn.sendRequest<GenerateResult>(Rpc.generate, { requestId: 'doomed', prompt: { ids: [1] }, maxNewTokens: 450 });
  onToken = () => {};
  assert.equal(result.finishReason, 'cancelled');
  await box.unloaded;
  assert.equal((await conn.sendRequest<RuntimeStats>(Rpc.stats)).loaded, false);
  await conn.sendRequest(Rpc.load, { modelDir: STORIES });
});

test('a prompt longer than the context gets ContextOverflow', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const e = await rpcError(conn.sendRequest(Rpc.generate, { requestId: 'big', prompt: { ids: new Array(600).fill(1) } }));
  assert.equal(e.code, RpcErrors.ContextOverflow);
  assert.match(e.message, /600 tokens .* 512/);
  oneLine(e.message);
});

test('countTokens, then unload: the model is gone', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const { counts } = await conn.sendRequest<{ counts: number[] }>(Rpc.countTokens, { texts: ['Once upon a time', ''] });
  assert.equal(counts.length, 2);
  assert.ok(counts[0] > 1 && counts[1] === 0);
  await conn.sendRequest(Rpc.unload);
  const stats = await conn.sendRequest<RuntimeStats>(Rpc.stats);
  assert.equal(stats.loaded, false);
  const e = await rpcError(conn.sendRequest(Rpc.generate, { requestId: 'gone', prompt: { ids: [1] } }));
  assert.equal(e.code, RpcErrors.NotLoaded);
});

test('closing stdin ends the process cleanly; stdout held only JSON-RPC frames', async () => {
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  child.stdin.end();
  assert.equal(await exited, 0);
  let rest = Buffer.concat(stdoutBytes);
  let frames = 0;
  while (rest.length) {
    const head = /^Content-Length: (\d+)\r\n(?:[^\r\n]+\r\n)*\r\n/.exec(rest.toString('latin1', 0, Math.min(rest.length, 200)));
    assert.ok(head, `stdout has non-JSON-RPC bytes: ${JSON.stringify(rest.toString('utf8', 0, 80))}`);
    const end = head[0].length + Number(head[1]);
    JSON.parse(rest.toString('utf8', head[0].length, end));
    rest = rest.subarray(end);
    frames++;
  }
  assert.ok(frames > 0);
  if (present) assert.ok(logs.some((l) => l.level === 'info' && /loaded LlamaForCausalLM/.test(l.message)), 'logs arrive as log notifications');
  assert.doesNotMatch(stderr, /\bat .*:\d+:\d+/, 'no stack traces on stderr');
});
