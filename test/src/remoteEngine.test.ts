// The remote engine (thinkLens.engine = an OpenAI-compatible URL) through the real extension entry
// on the vscode mock: against a real `think-lens serve` (ThinkServer in process, stories260k) over
// loopback, and against tiny fake servers for the failures (closed port, HTML 404, a stream that
// stalls). Plus the pure parts: the SSE parser, vLLM's metrics, URL normalization and the setting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as vscode from 'vscode';
import { mock, type MockWebviewPanel } from '../support/vscode';
import { startExtension, type Harness } from '../support/extensionHarness';
import { until } from '../support/runtimeLaunch';
import { missingModel, STORIES } from '../support/models';
import { ThinkServer } from '../../runtime/serve/server';
import type { AnswerInMessage, InspectorInMessage } from '../../core/protocol/webview';
import { SseParser } from '../../src/remote/sse';
import { normalizeEngineUrl } from '../../src/remote/openaiClient';
import { llamaCppFigures, parsePrometheus, vllmFigures } from '../../src/remote/serverReport';
import { readConfig } from '../../src/config';
import { REMOTE_API_KEY_SECRET } from '../../src/ctx';
import { VENDOR, type ThinkLensChatProvider } from '../../src/chat/provider';

const storiesMissing = missingModel(STORIES, 'stories260k');

const FILES = {
  'src/parse.ts': 'export function parse(text: string) {\n  return text.split("\\n").map((l) => l.trim());\n}\n',
  'README.md': '# tiny\nParses lines.\n',
};

// ---------------------------------------------------------------------------------------------
// Pure parts
// ---------------------------------------------------------------------------------------------

test('SSE parser: events split anywhere, CRLF, multi-line data, comments and other fields', () => {
  const p = new SseParser();
  const stream = ': keep-alive\r\ndata: {"a":1}\r\n\r\nevent: x\nid: 7\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n';
  const bytes = Buffer.from(stream);
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += 3) out.push(...p.feed(bytes.subarray(i, i + 3)));
  out.push(...p.end());
  assert.deepEqual(out, ['{"a":1}', 'line1\nline2', '[DONE]']);
  // A multi-byte character split between chunks, and an unterminated last event.
  const q = new SseParser();
  const e = Buffer.from('data: héllo\n\ndata: tail');
  assert.deepEqual([...q.feed(e.subarray(0, 8)), ...q.feed(e.subarray(8)), ...q.end()], ['héllo', 'tail']);
});

test("vLLM's Prometheus metrics: KV-cache usage (v1 and older names), requests; llama.cpp's slots", () => {
  const v1 = [
    '# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.',
    '# TYPE vllm:kv_cache_usage_perc gauge',
    'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25',
    'vllm:num_requests_running{engine="0",model_name="m"} 1.0',
    'vllm:num_requests_waiting{engine="0",model_name="m"} 0.0',
  ].join('\n');
  assert.deepEqual(vllmFigures(v1), [
    { label: 'KV cache usage', value: '25%' },
    { label: 'Requests running', value: '1' },
    { label: 'Requests waiting', value: '0' },
  ]);
  assert.equal(vllmFigures('vllm:gpu_cache_usage_perc{model_name="m"} 0.5\n')?.[0].value, '50%');
  assert.equal(vllmFigures('process_cpu_seconds_total 3\n'), undefined, 'not vLLM: no figures');
  assert.equal(parsePrometheus('a{x="1"} 2\na{x="2"} 3\n# c\nb NaN\n').get('a'), 5);
  assert.deepEqual(llamaCppFigures({ default_generation_settings: { n_ctx: 4096 } }, [{ id: 0, is_processing: true, n_ctx: 4096, n_past: 120 }]), [
    { label: 'Context (n_ctx)', value: '4096 tokens' },
    { label: 'Slot 0', value: 'busy, 120 tokens of 4096' },
  ]);
});

test('thinkLens.engine: local, a URL with or without /v1, and a bad value reported like other settings', () => {
  assert.equal(normalizeEngineUrl('http://host:8000'), 'http://host:8000/v1');
  assert.equal(normalizeEngineUrl('http://host:8000/v1/'), 'http://host:8000/v1');
  assert.equal(normalizeEngineUrl('https://x.example/proxy/v1'), 'https://x.example/proxy/v1');
  assert.equal(normalizeEngineUrl('ftp://host'), undefined);
  assert.equal(normalizeEngineUrl('localhost:8000'), undefined);
  mock.reset();
  assert.equal(readConfig().engine, 'local');
  mock.setConfig('thinkLens.engine', 'http://127.0.0.1:8080');
  assert.deepEqual(readConfig().engine, { url: 'http://127.0.0.1:8080/v1' });
  mock.setConfig('thinkLens.engine', 'not a url');
  const c = readConfig();
  assert.equal(c.engine, 'local');
  assert.match(c.problems[0], /^thinkLens\.engine = "not a url" is invalid \('local' or an http\(s\) URL/);
  mock.reset();
});

// ---------------------------------------------------------------------------------------------
// Through the extension
// ---------------------------------------------------------------------------------------------

function answerPanel(): MockWebviewPanel {
  const p = mock.panels.find((x) => x.viewType === 'thinkLens.answer' && !x.disposed);
  assert.ok(p, 'an Answer panel is open');
  return p;
}
const posted = (p: MockWebviewPanel) => p.webview.posted as AnswerInMessage[];

/** Asks from the command palette and waits for the turn to end (done or error). */
async function ask(onPanel?: (p: MockWebviewPanel) => void): Promise<MockWebviewPanel> {
  const run = vscode.commands.executeCommand('thinkLens.askAboutCodebase', 'What does parse do?');
  await until(() => mock.panels.some((x) => x.viewType === 'thinkLens.answer'));
  const p = answerPanel();
  onPanel?.(p);
  p.webview.receive({ type: 'ready' });
  await run;
  await until(() => posted(p).some((m) => m.type === 'done' || m.type === 'error'));
  return p;
}

function errorOf(p: MockWebviewPanel): string {
  const e = posted(p).find((m) => m.type === 'error');
  assert.ok(e && e.type === 'error', `an error in the panel: ${JSON.stringify(posted(p).map((m) => m.type))}`);
  return e.message;
}

async function remoteExtension(url: string, extra: Record<string, unknown> = {}, timeouts = { responseMs: 2000, idleMs: 500, metaMs: 2000 }): Promise<Harness> {
  return startExtension({ files: FILES, settings: { 'thinkLens.engine': url, 'thinkLens.maxNewTokens': 24, ...extra }, deps: { remoteTimeouts: timeouts } });
}

/** A tiny HTTP server on loopback answering with `handler`. */
async function fake(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
function closeFake(s: Server): Promise<void> {
  s.closeAllConnections();
  return new Promise((ok) => s.close(() => ok()));
}

test('remote: against think-lens serve, Ask streams the answer into the panel; status bar, log and Inspector say remote', { skip: storiesMissing }, async (t) => {
  const server = await ThinkServer.start({ load: { modelDir: STORIES }, port: 0 });
  t.after(() => server.close());
  const h = await remoteExtension(server.url);
  t.after(() => h.close());
  assert.equal(h.api.ctx.supervisor.current, undefined);
  assert.equal(mock.messages.length, 0, 'no "select a model" hint with a remote engine');
  const p = await ask();
  const tokens = posted(p).filter((m) => m.type === 'token');
  assert.ok(tokens.length >= 3, `the answer arrives as several token messages (${tokens.length})`);
  assert.ok(posted(p).some((m) => m.type === 'context'), 'the workspace context was gathered');
  const done = posted(p).find((m) => m.type === 'done');
  assert.ok(done && done.type === 'done');
  assert.equal(done.result.finishReason, 'length');
  assert.ok(done.result.cache.tokens > 0, "think-lens serve's cache figures came with the answer");
  assert.equal(h.api.ctx.supervisor.current, undefined, 'no local runtime was started');
  assert.match(mock.statusBarItems[0].text, /ThinK remote: 127\.0\.0\.1:\d+/);
  assert.match(mock.statusBarItems[0].tooltip as string, /remote: http:\/\/127\.0\.0\.1:\d+\/v1/);
  const log = mock.outputChannels[0].lines.map((l) => l.message).join('\n');
  assert.match(log, /remote: http:\/\/127\.0\.0\.1:\d+\/v1/);
  assert.match(log, /serves stories260k \(think-lens\), context \d+ tokens/);
  assert.doesNotMatch(log, /estimate/, 'think-lens serve counts tokens with /tokenize');

  // The Inspector: the remote note and the server's figures (fetched after the answer).
  await until(() => Boolean(h.api.ctx.inspectorState().remote?.metrics));
  await vscode.commands.executeCommand('thinkLens.openCacheInspector');
  const insp = mock.panels.find((x) => x.viewType === 'thinkLens.cacheInspector')!;
  insp.webview.receive({ type: 'ready' });
  await until(() => (insp.webview.posted as InspectorInMessage[]).some((m) => m.type === 'state' && m.remote?.metrics));
  const state = (insp.webview.posted as InspectorInMessage[]).filter((m) => m.type === 'state').at(-1) as Extract<InspectorInMessage, { type: 'state' }>;
  assert.match(state.remote!.note, /^Remote engine http:\/\/127\.0\.0\.1:\d+\/v1: ThinK pruning and the cache are the server's business/);
  assert.equal(state.remote!.metrics!.source, 'GET /metrics (think-lens serve)');
  const labels = state.remote!.metrics!.figures.map((f) => f.label);
  for (const l of ['Server', 'Tokens in cache', 'Keys']) assert.ok(labels.includes(l), l);
});

test('remote: Stop cancels the answer on the server (its /metrics is not busy shortly after)', { skip: storiesMissing }, async (t) => {
  const server = await ThinkServer.start({ load: { modelDir: STORIES }, port: 0 });
  t.after(() => server.close());
  const h = await remoteExtension(server.url, { 'thinkLens.maxNewTokens': 200 });
  t.after(() => h.close());
  let panel: MockWebviewPanel | undefined;
  let stopped = false;
  const sub = h.api.ctx.onToken(() => {
    if (!stopped && panel) {
      stopped = true;
      panel.webview.receive({ type: 'stop' });
    }
  });
  const p = await ask((x) => (panel = x));
  sub.dispose();
  const done = posted(p).find((m) => m.type === 'done');
  assert.ok(done && done.type === 'done', JSON.stringify(posted(p).filter((m) => m.type !== 'token')));
  assert.equal(done.result.finishReason, 'cancelled');
  const tokens = posted(p).filter((m) => m.type === 'token').length;
  assert.ok(tokens < 100, `stopped early (${tokens} tokens)`);
  const t0 = Date.now();
  for (;;) {
    const m = (await (await fetch(`${server.url}/metrics`)).json()) as { busy: boolean };
    if (!m.busy) break;
    assert.ok(Date.now() - t0 < 5000, 'the server stopped generating within 5 s');
    await new Promise((r) => setTimeout(r, 50));
  }
});

test('remote: a wrong API key gives the one-line 401 message; the stored key is sent', { skip: storiesMissing }, async (t) => {
  const server = await ThinkServer.start({ load: { modelDir: STORIES }, port: 0, apiKey: 'right-key' });
  t.after(() => server.close());
  const h = await remoteExtension(server.url);
  t.after(() => h.close());
  await h.context.secrets.store(REMOTE_API_KEY_SECRET, 'wrong-key');
  await vscode.commands.executeCommand('thinkLens.askAboutCodebase', 'What does parse do?');
  const err = mock.messages.find((m) => m.kind === 'error');
  assert.ok(err);
  assert.equal(
    err.message,
    'ThinK Lens: Ask About Codebase failed: the server refused the API key (HTTP 401: missing or wrong API key (send Authorization: Bearer <key>)); set it with "ThinK Lens: Set Remote Engine API Key"',
  );
  // The command stores the right key; the next Ask uses it.
  mock.queueQuickPick('Set a new API key');
  mock.queueInput('right-key');
  await vscode.commands.executeCommand('thinkLens.setRemoteApiKey');
  assert.equal(await h.context.secrets.get(REMOTE_API_KEY_SECRET), 'right-key');
  const p = await ask();
  assert.ok(posted(p).some((m) => m.type === 'done'), 'answered with the right key');
});

test('remote: an unreachable URL (a closed port) gives "cannot reach" quickly', async (t) => {
  const { url, server } = await fake(() => undefined);
  await closeFake(server); // the port is free again: nothing listens
  const h = await remoteExtension(url);
  t.after(() => h.close());
  const t0 = Date.now();
  await vscode.commands.executeCommand('thinkLens.askAboutCodebase', 'What does parse do?');
  assert.ok(Date.now() - t0 < 2000, 'fails fast');
  const err = mock.messages.find((m) => m.kind === 'error');
  assert.ok(err);
  assert.match(err.message, new RegExp(`^ThinK Lens: Ask About Codebase failed: cannot reach ${url.replace(/\./g, '\\.')}: connect ECONNREFUSED`));
  assert.doesNotMatch(err.message, /\n/);
});

test('remote: a server that answers HTML 404 is "not an OpenAI-compatible endpoint"; HTML 200 is "not an OpenAI-compatible response"', async (t) => {
  const { url, server } = await fake((req, res) => {
    res.writeHead(req.url === '/ok/v1/models' ? 200 : 404, { 'content-type': 'text/html' });
    res.end('<html><body>Not here</body></html>');
  });
  t.after(() => closeFake(server));
  const h = await remoteExtension(url);
  t.after(() => h.close());
  await vscode.commands.executeCommand('thinkLens.askAboutCodebase', 'What does parse do?');
  const err = mock.messages.find((m) => m.kind === 'error');
  assert.ok(err);
  assert.equal(
    err.message,
    `ThinK Lens: Ask About Codebase failed: ${url}/v1 is not an OpenAI-compatible endpoint (HTTP 404 on /v1/models); thinkLens.engine should be the API's base URL, e.g. http://host:8000/v1`,
  );
  mock.setConfig('thinkLens.engine', `${url}/ok`);
  await vscode.commands.executeCommand('thinkLens.askAboutCodebase', 'What does parse do?');
  const err2 = mock.messages.filter((m) => m.kind === 'error').at(-1)!;
  assert.match(err2.message, /\/ok\/v1\/models answered with something that is not an OpenAI-compatible response \(text\/html: <html><body>Not here<\/body><\/html>\)$/);
});

test('remote: a stream that stops mid-answer hits the idle timeout; the panel says so in one line', async (t) => {
  const { url, server } = await fake((req, res) => {
    if (req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ object: 'list', data: [{ id: 'fake', object: 'model', owned_by: 'me' }] }));
    }
    if (req.url === '/v1/chat/completions') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: 'assistant', content: 'Hello' }, finish_reason: null }] })}\n\n`);
      return; // ...and nothing more
    }
    res.writeHead(404).end();
  });
  t.after(() => closeFake(server));
  const h = await remoteExtension(url);
  t.after(() => h.close());
  const t0 = Date.now();
  const p = await ask();
  assert.ok(Date.now() - t0 < 3000);
  assert.ok(posted(p).some((m) => m.type === 'token' && m.text === 'Hello'), 'what came before the stall was shown');
  assert.equal(errorOf(p), `${url} sent nothing for 500 ms mid-answer (/v1/chat/completions); gave up`);
  assert.match(mock.outputChannels[0].lines.map((l) => l.message).join('\n'), /token counts are estimates \(~4 characters per token\)/, 'no /tokenize: estimated, logged');
});

test('remote: the chat model picker lists the remote engine, not thinkLens.model, before and without any request', async (t) => {
  const h = await remoteExtension('http://127.0.0.1:9/v1', { 'thinkLens.model': '/some/local/model', 'thinkLens.contextTokens': 4096 });
  t.after(() => h.close());
  const provider = mock.chatProvider<ThinkLensChatProvider>(VENDOR);
  assert.ok(provider, 'the provider is registered');
  const [entry, ...rest] = provider.entries();
  assert.equal(rest.length, 0);
  assert.deepEqual([entry.name, entry.family, entry.maxInputTokens], ['127.0.0.1:9', 'remote', 4096]);
  assert.match(entry.detail ?? '', /remote: http:\/\/127\.0\.0\.1:9\/v1/);
});
