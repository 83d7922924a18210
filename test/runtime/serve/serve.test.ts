// `think-lens serve` in process (ThinkServer) over loopback, with the real runtime on stories260k:
// the OpenAI shapes of /v1/models, chat and text completions (whole and streamed), that the text
// is what the engine itself generates, usage, the ThinK extras, cancellation when the client
// leaves, and one generation at a time (429 while busy).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import type { LogLevel } from '../../../runtime/host/engineHost';
import { EngineHost } from '../../../runtime/host/engineHost';
import { ThinkServer } from '../../../runtime/serve/server';
import { missingModel, STORIES } from '../../support/models';
import { post, sseEvents } from './support';

const skip = missingModel(STORIES, 'stories260k');
let server: ThinkServer;
const logs: string[] = [];
const logWaiters: ((line: string) => void)[] = [];

before(async () => {
  if (skip) return;
  server = await ThinkServer.start({
    load: { modelDir: STORIES },
    port: 0,
    onLog: (level: LogLevel, message: string) => {
      logs.push(`${level}: ${message}`);
      if (message.includes('the client left')) for (const w of logWaiters.splice(0)) w(message);
    },
  });
});
after(() => server?.close());

const chatBody = { model: 'stories260k', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 24, temperature: 0 };

test('GET /v1/models lists the loaded model', { skip }, async () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const res = await fetch(`${server.url}/v1/models`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { object: string; data: { id: string; object: string; created: number; owned_by: string }[] };
  assert.equal(body.object, 'list');
  assert.equal(body.data.length, 1);
  const [m] = body.data;
  assert.deepEqual({ id: m.id, object: m.object, owned_by: m.owned_by }, { id: 'stories260k', object: 'model', owned_by: 'think-lens' });
  assert.ok(Number.isInteger(m.created));
});

test('a greedy chat completion is what the engine generates for the same messages', { skip }, async () => {
  const res = await post(server.url, '/v1/chat/completions', chatBody);
  assert.equal(res.status, 200);
  const body = (await res.json()) as any;
  assert.equal(body.object, 'chat.completion');
  assert.match(body.id, /^chatcmpl-/);
  assert.equal(body.model, 'stories260k');
  assert.equal(body.choices.length, 1);
  assert.equal(body.choices[0].index, 0);
  assert.equal(body.choices[0].message.role, 'assistant');

  // The reference: the runtime itself (its own worker), same prompt, greedy.
  const engine = new EngineHost();
  try {
    await engine.load({ modelDir: STORIES });
    const ref = await engine.generate({ requestId: 'ref', prompt: { messages: [{ role: 'user', content: 'Once upon a time' }] }, maxNewTokens: 24 });
    assert.ok(ref.text.length > 0);
    assert.equal(body.choices[0].message.content, ref.text);
    assert.equal(body.choices[0].finish_reason, ref.finishReason === 'length' ? 'length' : 'stop');
    assert.deepEqual(body.usage, { prompt_tokens: ref.promptTokens, completion_tokens: ref.ids.length, total_tokens: ref.promptTokens + ref.ids.length });
  } finally {
    await engine.dispose();
  }
  // ThinK's extra: the cache figures a remote client shows.
  const c = body.think_lens.cache;
  for (const k of ['keyBytes', 'fullKeyBytes', 'pruneRatio', 'bytesPerToken']) assert.equal(typeof c[k], 'number', k);
  assert.equal(c.tokens, body.usage.total_tokens);
});

test('streamed chat deltas add up to the whole answer; [DONE] is last; usage when asked', { skip }, async () => {
  const whole = (await (await post(server.url, '/v1/chat/completions', chatBody)).json()) as any;
  const res = await post(server.url, '/v1/chat/completions', { ...chatBody, stream: true, stream_options: { include_usage: true } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events = sseEvents(await res.text());
  assert.equal(events.at(-1), '[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  for (const c of chunks) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.id, chunks[0].id);
    assert.equal(c.model, 'stories260k');
  }
  assert.equal(chunks[0].choices[0].delta.role, 'assistant', 'the first chunk carries the role');
  const usageChunk = chunks.at(-1);
  assert.deepEqual(usageChunk.choices, []);
  assert.deepEqual(usageChunk.usage, whole.usage);
  const finishChunk = chunks.at(-2);
  assert.equal(finishChunk.choices[0].finish_reason, whole.choices[0].finish_reason);
  assert.deepEqual(finishChunk.choices[0].delta, {});
  assert.equal(typeof finishChunk.think_lens.cache.keyBytes, 'number');
  const deltas = chunks.slice(0, -2);
  assert.ok(deltas.length > 1, 'one chunk per token');
  for (const c of deltas) {
    assert.equal(c.choices[0].finish_reason, null);
    assert.equal(c.usage, null, 'with include_usage, other chunks carry usage: null');
  }
  assert.equal(deltas.map((c) => c.choices[0].delta.content).join(''), whole.choices[0].message.content);

  // Without stream_options there is no usage chunk and no usage field.
  const plain = sseEvents(await (await post(server.url, '/v1/chat/completions', { ...chatBody, stream: true })).text());
  const plainChunks = plain.slice(0, -1).map((e) => JSON.parse(e));
  assert.equal(plain.at(-1), '[DONE]');
  assert.ok(plainChunks.every((c) => !('usage' in c)));
  assert.equal(plainChunks.at(-1).choices[0].finish_reason, whole.choices[0].finish_reason);
});

test('text completions, whole and streamed, with stop strings', { skip }, async () => {
  const body = { prompt: 'Once upon a time', max_tokens: 30, temperature: 0 };
  const whole = (await (await post(server.url, '/v1/completions', body)).json()) as any;
  assert.equal(whole.object, 'text_completion');
  assert.match(whole.id, /^cmpl-/);
  assert.equal(whole.choices[0].finish_reason, 'length');
  const text: string = whole.choices[0].text;
  assert.ok(text.length > 5);
  const streamed = sseEvents(await (await post(server.url, '/v1/completions', { ...body, stream: true })).text());
  assert.equal(streamed.at(-1), '[DONE]');
  assert.equal(
    streamed
      .slice(0, -1)
      .map((e) => JSON.parse(e).choices[0].text)
      .join(''),
    text,
  );
  // A stop string that occurs in the greedy text ends it there, with finish_reason 'stop'.
  const word = text.trim().split(/\s+/)[2];
  const stopped = (await (await post(server.url, '/v1/completions', { ...body, stop: [word] })).json()) as any;
  assert.equal(stopped.choices[0].finish_reason, 'stop');
  assert.equal(stopped.choices[0].text, text.slice(0, text.indexOf(word)));
});

test('the non-standard think object reaches the runtime', { skip }, async () => {
  const prompt = 'Once upon a time there was a little girl named Lily. She loved to play outside in the park with her friends. One day';
  const base = { prompt, max_tokens: 4, temperature: 0 };
  const off = (await (await post(server.url, '/v1/completions', { ...base, think: { ratio: 0 } })).json()) as any;
  const on = (await (await post(server.url, '/v1/completions', { ...base, think: { ratio: 0.5, window: 4, recent: 2 } })).json()) as any;
  assert.equal(off.think_lens.cache.pruneRatio, 0);
  assert.equal(off.think_lens.cache.keyBytes, off.think_lens.cache.fullKeyBytes);
  assert.ok(on.think_lens.cache.pruneRatio > 0);
  assert.ok(on.think_lens.cache.keyBytes < on.think_lens.cache.fullKeyBytes);
  const metrics = (await (await fetch(`${server.url}/metrics`)).json()) as any;
  assert.equal(metrics.busy, false);
  assert.equal(metrics.cache.keyBytes, on.think_lens.cache.keyBytes);
  assert.equal(metrics.model, 'stories260k');
});

/** Opens a streamed completion and resolves with the request once its first token chunk arrived. */
function openStream(url: string, maxTokens: number): Promise<{ destroy(): void; rest: Promise<string> }> {
  return new Promise((ok, fail) => {
    const u = new URL('/v1/completions', url);
    const req = request(u, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      let resolved = false;
      const rest = new Promise<string>((done) => {
        res.on('end', () => done(text));
        res.on('close', () => done(text));
      });
      res.setEncoding('utf8').on('data', (s: string) => {
        text += s;
        if (!resolved && text.includes('\n\n')) {
          resolved = true;
          ok({ destroy: () => req.destroy(), rest });
        }
      });
    });
    req.on('error', (e) => {
      if ((e as NodeJS.ErrnoException).code !== 'ECONNRESET') fail(e);
    });
    req.end(JSON.stringify({ prompt: 'Once upon a time', max_tokens: maxTokens, temperature: 0, stream: true }));
  });
}

test('a client that leaves mid-stream cancels its generation; the next request is served', { skip }, async () => {
  const maxTokens = 450;
  const stream = await openStream(server.url, maxTokens);
  const cancelled = new Promise<string>((ok) => logWaiters.push(ok));
  stream.destroy();
  // Sent at once: the server waits for the abandoned generation (one step) instead of refusing.
  const next = await post(server.url, '/v1/completions', { prompt: 'Once upon a time', max_tokens: 3, temperature: 0 });
  assert.equal(next.status, 200);
  assert.equal(((await next.json()) as any).usage.completion_tokens, 3);
  const line = await cancelled;
  const m = /cancelled after (\d+) tokens \(cancelled\)/.exec(line);
  assert.ok(m, line);
  assert.ok(Number(m[1]) < maxTokens, `stopped after ${m[1]} of ${maxTokens} tokens`);
  const metrics = (await (await fetch(`${server.url}/metrics`)).json()) as any;
  assert.equal(metrics.busy, false);
});

test('one generation at a time: later requests wait in a bounded queue, then 429', { skip }, async () => {
  // A second server on the same model with room for one waiting request.
  const small = await ThinkServer.start({ load: { modelDir: STORIES }, port: 0, queue: 1 });
  try {
    const stream = await openStream(small.url, 450);
    const waiting = post(small.url, '/v1/completions', { prompt: 'Once upon a time', max_tokens: 3, temperature: 0 });
    // Until the server counts it as queued (polled; no timing assumed).
    for (;;) {
      const m = (await (await fetch(`${small.url}/metrics`)).json()) as any;
      assert.equal(m.busy, true, 'reads are not generations: metrics answer while one runs');
      if (m.queued === 1) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const refused = await post(small.url, '/v1/chat/completions', chatBody);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '1');
    const body = (await refused.json()) as any;
    assert.equal(body.error.type, 'rate_limit_error');
    assert.equal(body.error.code, 'server_busy');
    assert.match(body.error.message, /one at a time/);
    assert.equal((await fetch(`${small.url}/v1/models`)).status, 200);
    // The streaming client leaves: the waiting request gets the engine.
    stream.destroy();
    const served = await waiting;
    assert.equal(served.status, 200);
    assert.equal(((await served.json()) as any).usage.completion_tokens, 3);
  } finally {
    await small.close();
  }
});

test('POST /tokenize counts tokens with the model\'s tokenizer; /v1/models says the context length', { skip }, async () => {
  const engine = new EngineHost();
  try {
    await engine.load({ modelDir: STORIES });
    const texts = ['Once upon a time', 'a cat'];
    const expected = await engine.countTokens(texts);
    const batch = await post(server.url, '/tokenize', { content: texts });
    assert.equal(batch.status, 200);
    assert.deepEqual(await batch.json(), { counts: expected });
    const one = await post(server.url, '/tokenize', { content: texts[0] });
    assert.deepEqual(await one.json(), { count: expected[0] });
    assert.equal((await post(server.url, '/tokenize', { content: 3 })).status, 400);
    const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { context_length: number }[] };
    assert.equal(models.data[0].context_length, server.loaded.model.contextLength);
  } finally {
    await engine.dispose();
  }
});
