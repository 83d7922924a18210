// The commands of src/commands/ through the real extension entry, on the vscode mock, with the
// real runtime and the real stories260k model where a model is needed (skipped when absent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { mock, Uri, Selection, type MockWebviewPanel } from '../support/vscode';
import { recordGenerates } from '../support/recordGenerates';
import { startExtension, type Harness } from '../support/extensionHarness';
import { HubServer } from '../support/hubServer';
import { realRuntimeMissing, STORIES_DIR, until } from '../support/runtimeLaunch';
import { missingModel } from '../support/models';
import type { GenerateParams, LoadResult } from '../../core/protocol/rpc';
import { DEFAULT_THINK } from '../../core/protocol/settings';
import { gatherFromWorkspace } from '../../src/commands/askAboutCodebase';
import { overheadText, TEMPLATE_OVERHEAD_TOKENS } from '../../core/context/prompt';
import { convertToGguf } from '../../scripts/bench/gguf';
import type { AnswerInMessage } from '../../core/protocol/webview';

const runtimeMissing = realRuntimeMissing();
const storiesMissing = missingModel(STORIES_DIR, 'model folder');

const FILES = {
  'src/parse.ts': 'export function parse(text: string) {\n  return text.split("\\n").map((l) => l.trim());\n}\n',
  'src/write.ts': 'export function write(lines: string[]) {\n  return lines.join("\\n");\n}\n',
  'README.md': '# tiny\nParses and writes lines.\n',
};

function answerPanel(): MockWebviewPanel {
  const p = mock.panels.find((x) => x.viewType === 'thinkLens.answer' && !x.disposed);
  assert.ok(p, 'an Answer panel is open');
  return p;
}

function posted(p: MockWebviewPanel): AnswerInMessage[] {
  return p.webview.posted as AnswerInMessage[];
}

async function waitForTurnEnd(p: MockWebviewPanel, turns: number): Promise<void> {
  await until(() => posted(p).filter((m) => m.type === 'done' || m.type === 'error').length >= turns);
}

/**
 * Asks from the command palette, marks the Answer panel's webview ready and waits for the answer to
 * end; `onPanel` sees the panel before it is ready (to wire a Stop, say).
 */
async function askFromCommand(question = 'What does parse do?', onPanel?: (p: MockWebviewPanel) => void): Promise<MockWebviewPanel> {
  const ask = vscode.commands.executeCommand('thinkLens.askAboutCodebase', question);
  await until(() => mock.panels.length > 0);
  const p = answerPanel();
  onPanel?.(p);
  p.webview.receive({ type: 'ready' });
  await ask;
  await waitForTurnEnd(p, 1);
  return p;
}

/** Loads the model with a one-token prefill chunk: a Stop lands while the prompt is read. */
function slowPrefill(h: Harness): void {
  h.api.ctx.supervisor.onDidStart((client) => {
    const original = client.request.bind(client);
    client.request = (async (method: string, params: unknown, token?: vscode.CancellationToken) =>
      original(method as never, (method === 'load' ? { ...(params as object), prefillChunk: 1 } : params) as never, token)) as typeof client.request;
  });
}

/** The user message of a chat prompt as sent. */
function userText(p: GenerateParams): string {
  return 'messages' in p.prompt ? p.prompt.messages.at(-1)!.content : '';
}

// ---------------------------------------------------------------------------------------------
// Restricted Mode
// ---------------------------------------------------------------------------------------------

test('Restricted Mode: Ask and Summarize explain, start no runtime, open no panel, read no file', async (t) => {
  const h = await startExtension({ files: FILES, trusted: false, settings: { 'thinkLens.model': STORIES_DIR } });
  t.after(() => h.close());
  await vscode.commands.executeCommand('thinkLens.askAboutCodebase', 'What does parse do?');
  await vscode.commands.executeCommand('thinkLens.summarizeFile', Uri.file(path.join(h.workspace, 'src/parse.ts')));
  const explained = mock.messages.filter((m) => /Restricted Mode/.test(m.message));
  assert.equal(explained.length, 2);
  assert.match(explained[0].message, /Ask About Codebase reads this workspace's files .* disabled in Restricted Mode\. Trust the workspace to use it\./);
  assert.match(explained[1].message, /Summarize File reads this workspace's files/);
  assert.deepEqual(explained[0].items, ['Manage Workspace Trust']);
  assert.equal(h.api.ctx.supervisor.current, undefined, 'no runtime process');
  assert.equal(mock.panels.length, 0, 'no panel');
  assert.equal(vscode.workspace.textDocuments.length, 0, 'no document was opened');
  assert.equal(mock.dialogs.length, 0, 'not even a question was asked');
});

// ---------------------------------------------------------------------------------------------
// Models: Select Model Folder, Download Model
// ---------------------------------------------------------------------------------------------

test('Select Model Folder: a bad folder is explained precisely; a good one is stored in user settings', { skip: storiesMissing }, async (t) => {
  const h = await startExtension({ files: { 'notamodel/config.json': '{"model_type":"llama"}' } });
  t.after(() => h.close());
  mock.respond((m) => (m.items.includes('Select Another Folder') ? 'Select Another Folder' : undefined));
  mock.queueOpenDialog([Uri.file(path.join(h.workspace, 'notamodel'))]);
  mock.queueOpenDialog([Uri.file(STORIES_DIR)]);
  const dir = await vscode.commands.executeCommand('thinkLens.selectModelFolder');
  assert.equal(dir, STORIES_DIR);
  const err = mock.messages.find((m) => m.kind === 'error');
  assert.ok(err);
  assert.match(err.message, /Not a usable model folder: .*notamodel\. no weights: expected model\.safetensors .* tokenizer\.json is missing\./);
  assert.equal(vscode.workspace.getConfiguration('thinkLens').get('model'), STORIES_DIR);
  assert.match(mock.messages.at(-1)!.message, /will use the llama model in/);
});

test('Download Model: fetched from a Hub-layout server with progress, verified, and configured by repo id', async (t) => {
  const config = Buffer.from(JSON.stringify({ model_type: 'llama' }));
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const weights = Buffer.concat([len, header, Buffer.alloc(4)]);
  const hub = await HubServer.start('test-org/tiny', [
    { path: 'config.json', content: config },
    { path: 'tokenizer.json', content: Buffer.from('{"model":{}}') },
    { path: 'model.safetensors', content: weights, lfs: true },
  ]);
  const saved = process.env.HF_ENDPOINT;
  process.env.HF_ENDPOINT = hub.url;
  const h = await startExtension();
  t.after(async () => {
    process.env.HF_ENDPOINT = saved;
    if (saved === undefined) delete process.env.HF_ENDPOINT;
    await h.close();
    await hub.close();
  });
  const dir = (await vscode.commands.executeCommand('thinkLens.downloadModel', 'test-org/tiny')) as string;
  assert.equal(dir, path.join(h.context.globalStoragePath, 'models', 'test-org--tiny'));
  assert.deepEqual(fs.readFileSync(path.join(dir, 'model.safetensors')), weights);
  const prog = mock.progress.find((p) => p.title === 'ThinK Lens: downloading test-org/tiny');
  assert.ok(prog && prog.cancellable);
  assert.ok(prog.reports.length >= 3, `progress reports: ${JSON.stringify(prog.reports)}`);
  const total = prog.reports.reduce((s, r) => s + (r.increment ?? 0), 0);
  assert.ok(Math.abs(total - 100) < 1e-6, `increments add up to 100, got ${total}`);
  assert.equal(vscode.workspace.getConfiguration('thinkLens').get('model'), 'test-org/tiny');
  assert.equal(h.api.ctx.modelSource().kind, 'hub');
  assert.equal(await h.api.ctx.modelDir(), dir, 'the downloaded folder passes the model-folder check');
});

test('Download Model offline: says so and offers Select Model', async (t) => {
  const saved = process.env.HF_ENDPOINT;
  process.env.HF_ENDPOINT = 'http://127.0.0.1:9'; // discard port: connection refused
  const h = await startExtension();
  t.after(async () => {
    process.env.HF_ENDPOINT = saved;
    if (saved === undefined) delete process.env.HF_ENDPOINT;
    await h.close();
  });
  const dir = await vscode.commands.executeCommand('thinkLens.downloadModel', 'test-org/tiny');
  assert.equal(dir, undefined);
  const err = mock.messages.find((m) => m.kind === 'error');
  assert.ok(err);
  assert.match(err.message, /^ThinK Lens is offline: cannot reach 127\.0\.0\.1/);
  assert.deepEqual(err.items, ['Select Model']);
  assert.equal(vscode.workspace.getConfiguration('thinkLens').get('model'), '');
});

// ---------------------------------------------------------------------------------------------
// Ask About Codebase (real runtime, stories260k)
// ---------------------------------------------------------------------------------------------

const modelSettings = { 'thinkLens.model': STORIES_DIR, 'thinkLens.maxNewTokens': 8, 'thinkLens.memoryBudgetMb': 64 };

test('Ask: context summary, streamed answer, done; a follow-up on unchanged files extends the cache with only the question', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ files: FILES, settings: modelSettings });
  t.after(() => h.close());
  const { sent, results } = recordGenerates(h);
  const p = await askFromCommand();
  const msgs = posted(p);
  assert.deepEqual(msgs[0], { type: 'question', question: 'What does parse do?', turn: 1 });
  const ctxMsg = msgs.find((m) => m.type === 'context');
  assert.ok(ctxMsg && ctxMsg.type === 'context');
  assert.equal(ctxMsg.summary.filesIncluded, 3);
  assert.ok(msgs.some((m) => m.type === 'token'), 'tokens streamed');
  const done = msgs.find((m) => m.type === 'done');
  assert.ok(done && done.type === 'done' && done.result.cache.tokens > 0);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].cache, 'reset');
  assert.equal(sent[0].memoryBudgetMb, 64, 'the runtime holds the cache to the same memory budget');
  const user = 'messages' in sent[0].prompt ? sent[0].prompt.messages.at(-1)!.content : '';
  assert.match(user, /=== src\/parse\.ts ===/);
  assert.match(user, /Question: What does parse do\?$/);

  // Follow-up from the panel: unchanged files -> extend the cache the first answer named, with only the new question.
  p.webview.receive({ type: 'ask', question: 'And write?' });
  await waitForTurnEnd(p, 2);
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[1].cache, { extend: results[0].cacheId });
  assert.deepEqual(sent[1].prompt, { messages: [{ role: 'user', content: 'And write?' }] });
  assert.ok(posted(p).some((m) => m.type === 'question' && m.turn === 2));

  // A changed file: the context is rebuilt and the cache reset.
  const f = path.join(h.workspace, 'src/write.ts');
  fs.writeFileSync(f, fs.readFileSync(f, 'utf8') + '// edited\n');
  fs.utimesSync(f, new Date(), new Date(Date.now() + 5000));
  p.webview.receive({ type: 'ask', question: 'What changed?' });
  await waitForTurnEnd(p, 3);
  assert.equal(sent[2].cache, 'reset');
  assert.match('messages' in sent[2].prompt ? sent[2].prompt.messages.at(-1)!.content : '', /\/\/ edited/);
  assert.ok(posted(p).some((m) => m.type === 'notice' && /changed/.test(m.text)), 'the panel says why it re-read');
});

test('Ask: another request replaced the runtime\'s cache: the follow-up\'s handle is refused, and the workspace is re-read and said so', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ files: FILES, settings: modelSettings });
  t.after(() => h.close());
  const { sent, results } = recordGenerates(h);
  const p = await askFromCommand();
  // Something else runs on the same runtime in between (a Summarize, another window's question).
  const { client } = await h.api.ctx.ensureModel();
  await client.request('generate', { requestId: 'elsewhere', prompt: { ids: [1, 300] }, maxNewTokens: 1 });

  p.webview.receive({ type: 'ask', question: 'And write?' });
  await waitForTurnEnd(p, 2);
  assert.equal(sent.length, 4, 'the first answer, the other request, the refused follow-up, the re-read one');
  assert.deepEqual(sent[2].cache, { extend: results[0].cacheId });
  assert.equal(sent[3].cache, 'reset');
  assert.match(userText(sent[3]), /=== src\/parse\.ts ===/);
  assert.match(userText(sent[3]), /Question: And write\?$/);
  assert.ok(posted(p).some((m) => m.type === 'notice' && /no longer holds .* re-reading the workspace/.test(m.text)));
  assert.ok(!posted(p).some((m) => m.type === 'error'), 'the refusal is not shown as a failure');
  assert.ok(results.at(-1)!.cacheId && results.at(-1)!.cacheId !== results[0].cacheId);
});

test('Weights setting: int8 loads quantized weights; back to float32 reloads the file\'s weights', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ files: FILES, settings: { ...modelSettings, 'thinkLens.weights': 'int8' } });
  t.after(() => h.close());
  const ask = async (question: string, turns: number) => {
    const done = vscode.commands.executeCommand('thinkLens.askAboutCodebase', question);
    await until(() => mock.panels.length > 0);
    if (turns === 1) answerPanel().webview.receive({ type: 'ready' });
    await done;
    await waitForTurnEnd(answerPanel(), turns);
  };
  await ask('What does parse do?', 1);
  assert.equal(h.api.ctx.loadedModel?.model.quantize, 'int8');
  const log = mock.outputChannels.find((c) => c.name === 'ThinK Lens')!;
  assert.ok(log.lines.some((l) => /^loading .* with int8 weights/.test(l.message)), 'the load is logged with its weights');
  assert.ok(log.lines.some((l) => /^loaded .*, int8 weights, a float16 cache, on cpu/.test(l.message)), 'and so is the loaded model');
  mock.setConfig('thinkLens.weights', 'float32');
  await ask('And write?', 2);
  assert.equal(h.api.ctx.loadedModel?.model.quantize, undefined, 'reloaded with the file\'s weights');
});

test('Open Cache Inspector after an answer shows that answer\'s cache figures and masks at once', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ files: FILES, settings: modelSettings });
  t.after(() => h.close());
  await askFromCommand();
  await vscode.commands.executeCommand('thinkLens.openCacheInspector');
  const inspector = mock.panels.find((x) => x.viewType === 'thinkLens.cacheInspector' && !x.disposed);
  assert.ok(inspector, 'the Inspector is open');
  inspector.webview.receive({ type: 'ready' });
  await until(() => inspector.webview.posted.some((m) => (m as { type: string }).type === 'progress'));
  type Progress = { type: 'progress'; progress: { phase: string; cache: { tokens: number; keyBytes: number } } };
  const progresses = inspector.webview.posted.filter((m) => (m as { type: string }).type === 'progress') as Progress[];
  const progress = progresses[progresses.length - 1];
  assert.equal(progress.progress.phase, 'done');
  assert.ok(progress.progress.cache.tokens > 0 && progress.progress.cache.keyBytes > 0);
  assert.ok(progresses.some((p) => p.progress.phase === 'prefill'), 'the prefill figures too (the Inspector keeps them through decode)');
  assert.ok(inspector.webview.posted.some((m) => (m as { type: string }).type === 'masks'), 'masks too');
});

test('Ask: a runtime killed mid-answer shows a clear error, is restarted, and the next question is answered', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ files: FILES, settings: { ...modelSettings, 'thinkLens.maxNewTokens': 200 } });
  t.after(() => h.close());
  let killedPid: number | undefined;
  const sub = h.api.ctx.onToken(() => {
    if (killedPid === undefined) {
      killedPid = h.api.ctx.supervisor.current?.pid;
      h.api.ctx.supervisor.current?.kill('SIGKILL');
    }
  });
  const ask = vscode.commands.executeCommand('thinkLens.askAboutCodebase', 'What does parse do?');
  await until(() => mock.panels.length > 0);
  const p = answerPanel();
  p.webview.receive({ type: 'ready' });
  await ask;
  sub.dispose();
  const err = posted(p).find((m) => m.type === 'error');
  assert.ok(err && err.type === 'error');
  assert.equal(err.message, "The ThinK Lens runtime stopped (killed by SIGKILL) during 'generate'. It is being restarted; ask again.");
  await until(() => h.api.ctx.supervisor.state === 'ready');
  assert.notEqual(h.api.ctx.supervisor.current?.pid, killedPid);

  h.api.ctx.config.maxNewTokens = 4;
  p.webview.receive({ type: 'ask', question: 'Which file writes lines?' });
  await until(() => posted(p).some((m) => m.type === 'done'));
  const done = posted(p).find((m) => m.type === 'done');
  assert.ok(done && done.type === 'done' && done.result.cache.tokens > 0, 'the model was loaded again and answered');
});

test('Ask: the panel Stop button cancels the answer in the runtime', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ files: FILES, settings: { ...modelSettings, 'thinkLens.maxNewTokens': 200 } });
  t.after(() => h.close());
  let p: MockWebviewPanel | undefined;
  const sub = h.api.ctx.onToken(() => p?.webview.receive({ type: 'stop' }));
  const ask = vscode.commands.executeCommand('thinkLens.askAboutCodebase', 'What does parse do?');
  await until(() => mock.panels.length > 0);
  p = answerPanel();
  p.webview.receive({ type: 'ready' });
  await ask;
  sub.dispose();
  const done = posted(p).find((m) => m.type === 'done');
  assert.ok(done && done.type === 'done');
  assert.equal(done.result.finishReason, 'cancelled');
});

test('Ask: Stop while the prompt is read, then a follow-up: the files are read again (cache reset) and the panel says so', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ files: FILES, settings: modelSettings });
  t.after(() => h.close());
  const { sent } = recordGenerates(h);
  slowPrefill(h);
  let p: MockWebviewPanel | undefined;
  let stopped = false;
  const sub = h.api.ctx.onProgress((e) => {
    if (e.phase !== 'prefill' || stopped || !p) return;
    stopped = true;
    p.webview.receive({ type: 'stop' });
  });
  p = await askFromCommand(undefined, (panel) => (p = panel));
  sub.dispose();
  const done = posted(p).find((m) => m.type === 'done');
  assert.ok(done && done.type === 'done');
  assert.equal(done.result.finishReason, 'cancelled');
  assert.equal(done.result.cache.tokens, 0, 'the Stop landed while the prompt was read');

  p.webview.receive({ type: 'ask', question: 'And write?' });
  await waitForTurnEnd(p, 2);
  assert.equal(sent.length, 2, 'one request for the follow-up');
  assert.equal(sent[1].cache, 'reset', 'the runtime holds nothing to extend: the follow-up starts a fresh cache');
  assert.match(userText(sent[1]), /=== src\/parse\.ts ===/, 'the files are in the prompt again');
  assert.match(userText(sent[1]), /Question: And write\?$/);
  assert.ok(
    posted(p).some((m) => m.type === 'notice' && /re-read/i.test(m.text)),
    `the panel says the workspace was re-read: ${JSON.stringify(posted(p).filter((m) => m.type !== 'token' && m.type !== 'progress'))}`,
  );
  const second = posted(p).filter((m) => m.type === 'done').at(-1);
  assert.ok(second && second.type === 'done' && second.result.cache.tokens > 0, 'the follow-up was answered from the fresh context');
});

test('Ask: Stop while answering, then a follow-up: extends the cache the stopped answer left, by its handle', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ files: FILES, settings: { ...modelSettings, 'thinkLens.maxNewTokens': 200 } });
  t.after(() => h.close());
  const { sent, results } = recordGenerates(h);
  let p: MockWebviewPanel | undefined;
  let stopped = false;
  const sub = h.api.ctx.onToken(() => {
    if (stopped || !p) return;
    stopped = true;
    p.webview.receive({ type: 'stop' });
  });
  p = await askFromCommand(undefined, (panel) => (p = panel));
  sub.dispose();
  assert.equal(results[0].finishReason, 'cancelled');
  assert.ok(results[0].cache.tokens > results[0].promptTokens, 'the Stop landed while answering');
  assert.ok(results[0].cacheId, 'the stopped answer left a reusable cache');

  h.api.ctx.config.maxNewTokens = 4;
  p.webview.receive({ type: 'ask', question: 'And write?' });
  await waitForTurnEnd(p, 2);
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[1].cache, { extend: results[0].cacheId });
  assert.deepEqual(sent[1].prompt, { messages: [{ role: 'user', content: 'And write?' }] });
  assert.equal(results[1].cacheId, results[0].cacheId, 'the extended cache keeps its handle');
  assert.ok(!posted(p).some((m) => m.type === 'notice'), 'nothing was re-read');
});

test('Ask: a citation opens the file at the line; one outside the workspace is refused', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ files: FILES, settings: modelSettings });
  t.after(() => h.close());
  const ask = vscode.commands.executeCommand('thinkLens.askAboutCodebase', 'parse?');
  await until(() => mock.panels.length > 0);
  const p = answerPanel();
  p.webview.receive({ type: 'ready' });
  await ask;
  p.webview.receive({ type: 'openCitation', path: 'src/parse.ts', line: 2 });
  p.webview.receive({ type: 'openCitation', path: '../../etc/passwd', line: 1 });
  await until(() => mock.shownDocuments.length > 0);
  assert.equal(mock.shownDocuments[0].uri.fsPath, path.join(h.workspace, 'src/parse.ts'));
  assert.equal(mock.shownDocuments[0].selection?.start.line, 1);
  await until(() => /outside the workspace/.test(mock.outputChannels[0].text()));
  assert.equal(mock.shownDocuments.length, 1);
});

// ---------------------------------------------------------------------------------------------
// thinkLens.contextTokens: the prompt cap reaches the budget
// ---------------------------------------------------------------------------------------------

test('Ask: thinkLens.contextTokens caps the workspace budget below what memory and a long context allow', async (t) => {
  // 24 files of ~100 tokens (4 characters a token here); a 32k-token model whose cache is tiny.
  const files: Record<string, string> = {};
  for (let i = 0; i < 24; i++) files[`src/part${i}.ts`] = `export const part${i} = ${JSON.stringify('x'.repeat(360))};\n`;
  const h = await startExtension({ files, settings: { 'thinkLens.model': STORIES_DIR, 'thinkLens.contextTokens': 1024 } });
  t.after(() => h.close());
  const load = { model: { layers: 2, kvHeads: 1, headDim: 8, contextLength: 32768 }, think: DEFAULT_THINK } as unknown as LoadResult;
  const count = async (texts: string[]) => texts.map((x) => Math.ceil(x.length / 4));
  const gather = (config: typeof h.api.ctx.config, question = 'What is part3?') =>
    gatherFromWorkspace({ question, load, config, count, token: new vscode.CancellationTokenSource().token });

  assert.equal(h.api.ctx.config.contextTokens, 1024);
  const capped = await gather(h.api.ctx.config);
  assert.equal(capped.limitedBy, 'cap');
  const [overhead] = await count([overheadText('What is part3?')]);
  assert.equal(capped.summary.budgetTokens, 1024 - overhead - TEMPLATE_OVERHEAD_TOKENS, 'the cap less the question and the chat template');
  assert.ok(capped.summary.tokens <= capped.summary.budgetTokens);
  assert.ok(capped.summary.filesIncluded < 24 && capped.summary.filesIncluded >= 5, `${capped.summary.filesIncluded} files`);

  mock.setConfig('thinkLens.contextTokens', 4096);
  const wider = await gather(h.api.ctx.config);
  assert.equal(wider.limitedBy, 'cap');
  assert.equal(wider.summary.budgetTokens, capped.summary.budgetTokens + 3072, 'the budget moves with the setting');
  assert.equal(wider.summary.filesIncluded, 24);

  mock.setConfig('thinkLens.contextTokens', 256);
  await assert.rejects(
    gather(h.api.ctx.config, 'q'.repeat(1200)),
    /no room for any file: the 256-token prompt cap \(thinkLens\.contextTokens\) leaves 0 tokens after the question\. Raise thinkLens\.contextTokens/,
  );
});

// ---------------------------------------------------------------------------------------------
// A .gguf model (real runtime, stories260k converted to GGUF)
// ---------------------------------------------------------------------------------------------

test('Ask with thinkLens.model set to a .gguf file: the runtime loads the file and answers', { skip: runtimeMissing }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tl-gguf-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const gguf = path.join(dir, 'stories260k.gguf');
  convertToGguf(STORIES_DIR, gguf, { fileType: 'F32' });
  const h = await startExtension({ files: FILES, settings: { ...modelSettings, 'thinkLens.model': gguf } });
  t.after(() => h.close());
  assert.deepEqual(h.api.ctx.modelSource(), { kind: 'file', dir: gguf });
  const { sent } = recordGenerates(h);
  const p = await askFromCommand();
  const done = posted(p).find((m) => m.type === 'done');
  assert.ok(done && done.type === 'done' && done.result.cache.tokens > 0, JSON.stringify(posted(p).filter((m) => m.type !== 'token')));
  assert.equal(h.api.ctx.loadedModel?.model.architecture, 'LlamaForCausalLM');
  assert.match(userText(sent[0]), /=== src\/parse\.ts ===/);
  assert.ok(mock.outputChannels[0].lines.some((l) => l.message.startsWith(`loading ${gguf} on cpu`)), 'the file itself was loaded');
});

// ---------------------------------------------------------------------------------------------
// Summarize File (real runtime, stories260k)
// ---------------------------------------------------------------------------------------------

test('Summarize: a selection in the active editor summarizes only the selection', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ files: FILES, settings: modelSettings });
  t.after(() => h.close());
  const { sent } = recordGenerates(h);
  await mock.setActiveEditor(path.join(h.workspace, 'src/write.ts'), new Selection(1, 0, 1, 28));
  const run = vscode.commands.executeCommand('thinkLens.summarizeFile');
  await until(() => mock.panels.length > 0);
  const p = answerPanel();
  p.webview.receive({ type: 'ready' });
  await run;
  await waitForTurnEnd(p, 1);
  assert.deepEqual(posted(p)[0], { type: 'question', question: 'Summarize src/write.ts (lines 2-2)', turn: 1 });
  assert.equal(sent.length, 1);
  const user = 'messages' in sent[0].prompt ? sent[0].prompt.messages.at(-1)!.content : '';
  assert.match(user, /return lines\.join/);
  assert.doesNotMatch(user, /export function write/, 'text outside the selection is not sent');
});

test('Summarize: a file longer than the budget is summarized in parts then combined, with progress; Cancel stops it', { skip: runtimeMissing }, async (t) => {
  // stories260k has a 512-token context: with 8 answer tokens a 300-line file needs several parts.
  const long = Array.from({ length: 300 }, (_, i) => `const value${i} = compute(${i}); // step ${i}`).join('\n');
  const h = await startExtension({ files: { ...FILES, 'src/long.ts': long }, settings: modelSettings });
  t.after(() => h.close());
  const { sent } = recordGenerates(h);
  const run = vscode.commands.executeCommand('thinkLens.summarizeFile', Uri.file(path.join(h.workspace, 'src/long.ts')));
  await until(() => mock.panels.length > 0);
  const p = answerPanel();
  p.webview.receive({ type: 'ready' });
  await run;
  await waitForTurnEnd(p, 1);
  const prog = mock.progress.find((x) => x.title === 'ThinK Lens: Summarizing src/long.ts');
  assert.ok(prog && prog.cancellable);
  const partReports = prog.reports.filter((r) => /^Summarizing part \d+ of \d+/.test(r.message ?? ''));
  const parts = Number(/of (\d+)/.exec(partReports[0]?.message ?? '')?.[1]);
  assert.ok(parts >= 2, `expected several parts, got ${JSON.stringify(prog.reports)}`);
  assert.equal(partReports.length, parts);
  assert.ok(prog.reports.some((r) => /^Combining/.test(r.message ?? '')));
  assert.ok(sent.length >= parts + 1);
  const last = sent.at(-1)!;
  assert.match('messages' in last.prompt ? last.prompt.messages.at(-1)!.content : '', /^These are summaries of consecutive parts of one file/);
  assert.ok(posted(p).some((m) => m.type === 'done'), 'the combined summary finished');

  // Cancel from the progress notification during the first part.
  const before = sent.length;
  const sub = mock.onProgress((rec) => rec.title === 'ThinK Lens: Summarizing src/long.ts' && rec.cancel());
  await vscode.commands.executeCommand('thinkLens.summarizeFile', Uri.file(path.join(h.workspace, 'src/long.ts')));
  sub.dispose();
  assert.ok(sent.length - before <= 1, `cancelled after ${sent.length - before} requests`);
  assert.deepEqual(posted(p).at(-1), { type: 'error', message: 'Summary stopped.' });
});

test('Summarize: thinkLens.contextTokens caps each part\'s prompt', { skip: runtimeMissing }, async (t) => {
  // stories260k's 512-token context would allow ~500 tokens a request; the cap of 400 sets it.
  const h = await startExtension({ files: FILES, settings: { ...modelSettings, 'thinkLens.contextTokens': 400 } });
  t.after(() => h.close());
  const run = vscode.commands.executeCommand('thinkLens.summarizeFile', Uri.file(path.join(h.workspace, 'src/parse.ts')));
  await until(() => mock.panels.length > 0);
  const p = answerPanel();
  p.webview.receive({ type: 'ready' });
  await run;
  await waitForTurnEnd(p, 1);
  const line = mock.outputChannels[0].lines.map((l) => l.message).find((m) => m.startsWith('summarize src/parse.ts:'));
  const m = /^summarize src\/parse\.ts: \d+ part\(s\) within (\d+) tokens each \(limited by cap\)$/.exec(line ?? '');
  assert.ok(m, `log: ${line}`);
  assert.ok(Number(m[1]) > 0 && Number(m[1]) < 400 - TEMPLATE_OVERHEAD_TOKENS, `log: ${line}`);
  assert.ok(posted(p).some((x) => x.type === 'done'));
});
