// `think-lens serve`'s failures as OpenAI reports them: the HTTP status and
// { error: { message, type, param, code } } for bad JSON, bad fields, unknown paths, wrong methods,
// bodies over the cap, a prompt past the context; and the API key.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BusyError } from '../../../runtime/host/engineHost';
import { ContextOverflowError } from '../../../runtime/model/errors';
import { openAiFinish } from '../../../runtime/serve/openaiTypes';
import { ThinkServer, toApiError } from '../../../runtime/serve/server';
import { missingModel, STORIES } from '../../support/models';
import { post } from './support';

const skip = missingModel(STORIES, 'stories260k');
const KEY = 'test-key-123';
let server: ThinkServer;
const auth = { authorization: `Bearer ${KEY}` };

before(async () => {
  if (!skip) server = await ThinkServer.start({ load: { modelDir: STORIES }, port: 0, apiKey: KEY, maxBodyBytes: 4096, name: 'tiny' });
});
after(() => server?.close());

async function expectError(res: Response, status: number, code: string | null, message?: RegExp): Promise<void> {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { error: { message: string; type: string; code: string | null; param: string | null } };
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0 && !body.error.message.includes('\n'));
  assert.equal(typeof body.error.type, 'string');
  assert.equal(body.error.code, code);
  if (message) assert.match(body.error.message, message);
}

test('the API key: none or a wrong one is 401, the right one passes', { skip }, async () => {
  await expectError(await fetch(`${server.url}/v1/models`), 401, 'invalid_api_key');
  await expectError(await fetch(`${server.url}/v1/models`, { headers: { authorization: 'Bearer nope' } }), 401, 'invalid_api_key');
  await expectError(await post(server.url, '/v1/completions', { prompt: 'x' }), 401, 'invalid_api_key');
  const ok = await fetch(`${server.url}/v1/models`, { headers: auth });
  assert.equal(ok.status, 200);
  assert.equal(((await ok.json()) as any).data[0].id, 'tiny', '--name names the model');
});

test('400: bad JSON, missing or mistyped fields', { skip }, async () => {
  const chat = (body: unknown) => post(server.url, '/v1/chat/completions', body, auth);
  await expectError(await chat('{"messages": ['), 400, 'invalid_json');
  await expectError(await chat('[1, 2]'), 400, null, /JSON object/);
  await expectError(await chat({ model: 'tiny' }), 400, null, /messages/);
  await expectError(await chat({ messages: [] }), 400, null, /messages/);
  await expectError(await chat({ messages: [{ role: 'wizard', content: 'hi' }] }), 400, null, /role/);
  await expectError(await chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }), 400, null, /text/);
  await expectError(await chat({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 'ten' }), 400, null, /max_tokens/);
  await expectError(await chat({ messages: [{ role: 'user', content: 'hi' }], temperature: 3 }), 400, null, /temperature/);
  await expectError(await chat({ messages: [{ role: 'user', content: 'hi' }], stream: 'yes' }), 400, null, /stream/);
  await expectError(await chat({ messages: [{ role: 'user', content: 'hi' }], stop: [1] }), 400, null, /stop/);
  await expectError(await chat({ messages: [{ role: 'user', content: 'hi' }], n: 2 }), 400, null, /'n'/);
  await expectError(await chat({ messages: [{ role: 'user', content: 'hi' }], think: { ratio: 2 } }), 400, null, /think\.ratio|ratio/);
  await expectError(await post(server.url, '/v1/completions', { prompt: 42 }, auth), 400, null, /prompt/);
  // The array-of-parts content form is accepted.
  const parts = await chat({ messages: [{ role: 'user', content: [{ type: 'text', text: 'Once upon' }] }], max_tokens: 2, temperature: 0 });
  assert.equal(parts.status, 200);
});

test('404 unknown path, 405 wrong method', { skip }, async () => {
  await expectError(await fetch(`${server.url}/v1/embeddings`, { headers: auth }), 404, 'not_found');
  await expectError(await fetch(`${server.url}/`, { headers: auth }), 404, 'not_found');
  const wrong = await fetch(`${server.url}/v1/chat/completions`, { headers: auth });
  assert.equal(wrong.headers.get('allow'), 'POST');
  await expectError(wrong, 405, 'method_not_allowed');
  await expectError(await post(server.url, '/v1/models', {}, auth), 405, 'method_not_allowed');
});

test('413 past the body cap; the server goes on serving', { skip }, async () => {
  const big = { prompt: 'x'.repeat(8000) };
  await expectError(await post(server.url, '/v1/completions', big, auth), 413, 'request_too_large');
  const ok = await post(server.url, '/v1/completions', { prompt: 'Once', max_tokens: 2, temperature: 0 }, auth);
  assert.equal(ok.status, 200);
});

test("400 with the runtime's message when the prompt does not fit the context", { skip }, async () => {
  // stories260k holds 512 positions; ~700 tokens of prompt (under the 4 KiB cap) do not fit.
  const prompt = 'Lily ran. '.repeat(230);
  for (const stream of [false, true]) {
    const res = await post(server.url, '/v1/completions', { prompt, max_tokens: 4, stream }, auth);
    await expectError(res, 400, 'context_length_exceeded', /context holds 512/);
  }
  const ok = await post(server.url, '/v1/completions', { prompt: 'Once', max_tokens: 2, temperature: 0 }, auth);
  assert.equal(ok.status, 200);
});

test('the mapping of runtime errors and finish reasons', () => {
  assert.equal(toApiError(new Error('boom\nstack')).status, 500);
  assert.equal(toApiError(new Error('boom\nstack')).type, 'server_error');
  assert.equal(toApiError(new Error('boom\nstack')).message, 'boom');
  assert.equal(toApiError(new ContextOverflowError(600, 512)).status, 400);
  assert.equal(toApiError(new BusyError('x')).status, 429);
  assert.deepEqual(
    (['eos', 'stop', 'length', 'context', 'cancelled'] as const).map(openAiFinish),
    ['stop', 'stop', 'length', 'length', 'stop'],
  );
});
