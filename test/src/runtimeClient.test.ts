// src/runtimeClient.ts against the real runtime process (runtime/host/main.ts through tsx) with the real
// stories260k model: typed requests, streamed notifications, cancellation reaching the runtime,
// error codes, and a process killed in the middle of an answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CancellationTokenSource, CancellationError, mock, window } from '../support/vscode';
import { RuntimeClient, RuntimeExitedError, RuntimeRequestError } from '../../src/runtimeClient';
import { RpcErrors } from '../../core/protocol/rpc';
import { isAlive, realRuntimeLaunch, realRuntimeMissing, STORIES_DIR, until } from '../support/runtimeLaunch';

const missing = realRuntimeMissing();
let client: RuntimeClient;
const log = window.createOutputChannel('ThinK Lens', { log: true });

before(async () => {
  if (missing) return;
  mock.reset();
  client = RuntimeClient.start(realRuntimeLaunch()!, log);
  await client.request('load', { modelDir: STORIES_DIR, think: { ratio: 0.5, window: 8, recent: 8 } });
});
after(async () => {
  await client?.dispose();
});

test('generate streams token and progress notifications for its requestId and returns the result', { skip: missing }, async () => {
  const tokens: string[] = [];
  const phases = new Set<string>();
  const subs = [
    client.onNotification('token', (t) => t.requestId === 'r1' && tokens.push(t.text)),
    client.onNotification('progress', (p) => p.requestId === 'r1' && phases.add(p.phase)),
  ];
  const r = await client.request('generate', { requestId: 'r1', prompt: { text: '' }, maxNewTokens: 12 });
  subs.forEach((s) => s.dispose());
  assert.equal(r.requestId, 'r1');
  assert.equal(r.finishReason, 'length');
  assert.equal(r.ids.length, 12);
  // The model's published greedy output from <s> alone.
  assert.ok('Once upon a time, there was a little girl named Lily.'.startsWith(r.text.trim().slice(0, 20)), r.text);
  assert.equal(tokens.join(''), r.text, 'the streamed pieces add up to the final text');
  assert.ok(phases.has('prefill') || phases.has('decode'), `progress phases seen: ${[...phases]}`);
  assert.ok(r.cache.tokens >= r.promptTokens, `cache holds the prompt: ${JSON.stringify(r.cache)}`);
});

test('a cancelled token reaches the runtime as `cancel`: the answer stops early with finishReason cancelled', { skip: missing }, async () => {
  const cts = new CancellationTokenSource();
  let seen = 0;
  const sub = client.onNotification('token', (t) => {
    if (t.requestId === 'r2' && ++seen === 3) cts.cancel();
  });
  const r = await client.request('generate', { requestId: 'r2', prompt: { text: 'Once upon a time' }, maxNewTokens: 400 }, cts.token);
  sub.dispose();
  assert.equal(r.finishReason, 'cancelled');
  assert.ok(r.ids.length < 400, `stopped after ${r.ids.length} tokens`);
  // The runtime is free again.
  assert.equal((await client.request('stats', undefined)).busy, false);
});

test('other requests cancel locally at once; an already-cancelled token sends nothing', { skip: missing }, async () => {
  const cts = new CancellationTokenSource();
  cts.cancel();
  await assert.rejects(client.request('countTokens', { texts: ['hello'] }, cts.token), CancellationError);
  const r = await client.request('countTokens', { texts: ['hello world', ''] });
  assert.equal(r.counts.length, 2);
  assert.ok(r.counts[0] > 0);
  assert.equal(r.counts[1], 0);
});

test('runtime errors keep their code and one-line message', { skip: missing }, async () => {
  await assert.rejects(client.request('load', { modelDir: '/nonexistent/model' }), (e: unknown) => {
    assert.ok(e instanceof RuntimeRequestError);
    assert.equal(e.code, RpcErrors.ModelInvalid);
    assert.match(e.message, /nonexistent/);
    return true;
  });
});

test('a runtime killed mid-answer fails the pending generate with how it ended; the runtime log lines reached the channel', { skip: missing }, async () => {
  const c = RuntimeClient.start(realRuntimeLaunch()!, log);
  try {
    await c.request('load', { modelDir: STORIES_DIR });
    const exits: string[] = [];
    c.onExit((e) => exits.push(e.signal ?? String(e.code)));
    const sub = c.onNotification('token', (t) => t.requestId === 'k' && c.kill('SIGKILL'));
    await assert.rejects(c.request('generate', { requestId: 'k', prompt: { text: 'Once' }, maxNewTokens: 400 }), (e: unknown) => {
      assert.ok(e instanceof RuntimeExitedError);
      assert.equal(e.message, "The ThinK Lens runtime stopped (killed by SIGKILL) during 'generate'.");
      return true;
    });
    sub.dispose();
    assert.deepEqual(exits, ['SIGKILL']);
    await until(() => !isAlive(c.pid));
    await assert.rejects(c.request('stats', undefined), RuntimeExitedError);
    assert.match(log.text(), /runtime: loaded LlamaForCausalLM/);
  } finally {
    await c.dispose();
  }
});
