// The chat model provider (src/chat/provider.ts) on the vscode mock: registered where VS Code has
// lm.registerLanguageModelChatProvider (1.104+), nothing where it has not; with the real runtime and
// stories260k, it lists the configured model, streams a request as text parts, stops on cancel,
// counts tokens with the runtime's tokenizer, and the Cache Inspector's state follows its requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { mock, CancellationTokenSource, LanguageModelChatMessage, LanguageModelTextPart } from '../support/vscode';
import { recordGenerates } from '../support/recordGenerates';
import { EXTENSION_COMMANDS as COMMANDS, startExtension } from '../support/extensionHarness';
import { realRuntimeMissing, STORIES_DIR } from '../support/runtimeLaunch';
import { missingModel } from '../support/models';
import { tokenBudget } from '../../core/context/budget';
import type { ProgressNotification } from '../../core/protocol/rpc';
import { VENDOR, toRuntimeMessages, type ThinkLensChatProvider } from '../../src/chat/provider';
import type { LanguageModelChatInformation, LanguageModelChatRequestMessage } from '../../src/chat/lmApi';

const runtimeMissing = realRuntimeMissing() ?? missingModel(STORIES_DIR, 'model folder');
const settings = { 'thinkLens.model': STORIES_DIR, 'thinkLens.maxNewTokens': 8, 'thinkLens.memoryBudgetMb': 64 };

const none = new CancellationTokenSource().token;
const provider = () => {
  const p = mock.chatProvider<ThinkLensChatProvider>(VENDOR);
  assert.ok(p, `a provider is registered for vendor '${VENDOR}'`);
  return p;
};
const asRequest = (messages: LanguageModelChatMessage[]) => messages as unknown as LanguageModelChatRequestMessage[];
const noOptions = { toolMode: 1 };

/** Runs one chat request; the text parts reported, in order. */
async function ask(messages: LanguageModelChatMessage[], token = none, onPart?: (p: LanguageModelTextPart) => void): Promise<LanguageModelTextPart[]> {
  const p = provider();
  const [model] = (await p.provideLanguageModelChatInformation({ silent: true }, none)) as LanguageModelChatInformation[];
  const parts: LanguageModelTextPart[] = [];
  await p.provideLanguageModelChatResponse(model, asRequest(messages), noOptions, { report: (part) => (parts.push(part), onPart?.(part)) }, token);
  return parts;
}

test('package.json contributes the provider vendor and the @thinklens participant', async () => {
  const pkg = (await import('../../package.json')).default as Record<string, any>;
  assert.deepEqual(pkg.contributes.languageModelChatProviders, [{ vendor: VENDOR, displayName: 'ThinK Lens' }]);
  assert.equal(pkg.engines.vscode, '^1.100.0', 'older VS Code still installs it (the APIs are checked at run time)');
});

test('messages map to the runtime chat prompt: roles, text parts only, consecutive turns of one role joined', () => {
  const msgs = asRequest([
    LanguageModelChatMessage.User('Hello'),
    LanguageModelChatMessage.User([new LanguageModelTextPart('more'), { callId: 'x', name: 'tool', input: {} }]),
    LanguageModelChatMessage.Assistant('Hi.'),
    LanguageModelChatMessage.User(''),
    LanguageModelChatMessage.User('Bye'),
  ]);
  assert.deepEqual(toRuntimeMessages(msgs), [
    { role: 'user', content: 'Hello\n\nmore' },
    { role: 'assistant', content: 'Hi.' },
    { role: 'user', content: 'Bye' },
  ]);
});

test('VS Code 1.104+: the provider is registered; with no model it lists nothing', async (t) => {
  const h = await startExtension();
  t.after(() => h.close());
  assert.deepEqual(mock.chatProviderVendors, [VENDOR]);
  assert.deepEqual(await provider().provideLanguageModelChatInformation({ silent: true }, none), []);
  await h.close();
  assert.deepEqual(mock.chatProviderVendors, [], 'deactivation unregisters it');
});

test('older VS Code (no lm.registerLanguageModelChatProvider, no chat): nothing is registered, activation and the commands are as before', async (t) => {
  const h = await startExtension({ settings, script: () => mock.setChatApis({ lmProvider: false, participant: false }) });
  t.after(() => h.close());
  assert.equal(typeof (vscode as { lm?: { registerLanguageModelChatProvider?: unknown } }).lm?.registerLanguageModelChatProvider, 'undefined');
  assert.deepEqual(mock.chatProviderVendors, []);
  assert.equal(mock.chatParticipants.size, 0);
  assert.deepEqual(mock.registeredCommands().sort(), [...COMMANDS].sort());
  const log = mock.outputChannels.find((c) => c.name === 'ThinK Lens')!;
  assert.ok(log.lines.some((l) => /chat model provider: not registered .*needs 1\.104/.test(l.message)));
  assert.ok(log.lines.some((l) => /^activated/.test(l.message)));
});

test('VS Code 1.100 (chat participants, no provider API): only @thinklens is registered', async (t) => {
  const h = await startExtension({ script: () => mock.setChatApis({ lmProvider: false }) });
  t.after(() => h.close());
  assert.deepEqual(mock.chatProviderVendors, []);
  assert.deepEqual([...mock.chatParticipants.keys()], ['thinkLens.chat']);
});

test('the model entry: named from the setting before loading, then from the loaded model with the budgeted input limit', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ settings });
  t.after(() => h.close());
  const p = provider();
  const before = (await p.provideLanguageModelChatInformation({ silent: true }, none)) as LanguageModelChatInformation[];
  assert.equal(before.length, 1);
  assert.equal(before[0].name, path.basename(STORIES_DIR));
  assert.equal(before[0].maxInputTokens, h.api.ctx.config.contextTokens, 'not loaded: the prompt cap');
  assert.equal(before[0].maxOutputTokens, 8);
  assert.deepEqual(before[0].capabilities, { imageInput: false, toolCalling: false });

  let changes = 0;
  p.onDidChangeLanguageModelChatInformation(() => changes++);
  const { load } = await h.api.ctx.ensureModel();
  assert.ok(changes >= 1, 'the picker hears that the entry changed');
  const after = (await p.provideLanguageModelChatInformation({ silent: true }, none)) as LanguageModelChatInformation[];
  assert.equal(after[0].id, before[0].id, 'the same model, same id');
  assert.equal(after[0].family, load.model.architecture);
  const expected = tokenBudget({ memoryBudgetMb: 64, model: load.model, think: load.think, answerTokens: 8, maxPromptTokens: h.api.ctx.config.contextTokens }).promptTokens;
  assert.equal(after[0].maxInputTokens, expected);
  assert.ok(expected > 0 && expected <= load.model.contextLength - 8);
  const settled = changes;
  await ask([LanguageModelChatMessage.User('Once upon a time')]);
  assert.equal(changes, settled, 'progress during a request does not re-announce an unchanged entry');
});

test('a request streams text parts whose concatenation is the answer, and the Cache Inspector follows it', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ settings });
  t.after(() => h.close());
  const rec = recordGenerates(h);
  const progress: ProgressNotification[] = [];
  h.api.ctx.onProgress((e) => progress.push(e));
  const parts = await ask([LanguageModelChatMessage.User('Once upon a time'), LanguageModelChatMessage.Assistant('there was'), LanguageModelChatMessage.User('a cat.')]);
  assert.equal(rec.sent.length, 1);
  assert.deepEqual(rec.sent[0].prompt, {
    messages: [
      { role: 'user', content: 'Once upon a time' },
      { role: 'assistant', content: 'there was' },
      { role: 'user', content: 'a cat.' },
    ],
  });
  assert.equal(rec.sent[0].maxNewTokens, 8);
  assert.equal(rec.sent[0].memoryBudgetMb, 64);
  assert.ok(parts.length > 1, `streamed in ${parts.length} parts`);
  assert.ok(parts.every((p) => p instanceof LanguageModelTextPart));
  assert.equal(parts.map((p) => p.value).join(''), rec.results[0].text);
  // The Inspector's state (what it shows, and what a newly opened one shows first) is this request's.
  const mine = progress.filter((e) => e.requestId === rec.sent[0].requestId);
  assert.ok(mine.some((e) => e.phase === 'prefill') && mine.some((e) => e.phase === 'done'));
  assert.equal(h.api.ctx.inspector.progress?.requestId, rec.sent[0].requestId);
  assert.ok(h.api.ctx.inspector.masks, 'masks too');
});

test('cancelling a request stops the generation', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ settings: { ...settings, 'thinkLens.maxNewTokens': 200 } });
  t.after(() => h.close());
  const rec = recordGenerates(h);
  const cts = new CancellationTokenSource();
  const parts = await ask([LanguageModelChatMessage.User('Once upon a time')], cts.token, () => cts.cancel());
  assert.equal(rec.results.length, 1);
  assert.equal(rec.results[0].finishReason, 'cancelled');
  assert.ok(rec.results[0].ids.length < 200, `stopped after ${rec.results[0].ids.length} tokens`);
  assert.ok(parts.length >= 1 && parts.length < 200);
  assert.equal(h.api.ctx.runtimeState, 'ready', 'the runtime is idle again');
});

test('provideTokenCount is the runtime\'s count, for a string and for a message', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ settings });
  t.after(() => h.close());
  const p = provider();
  const [model] = (await p.provideLanguageModelChatInformation({ silent: true }, none)) as LanguageModelChatInformation[];
  const text = 'Once upon a time, there was a little cat.';
  const n = await p.provideTokenCount(model, text, none);
  const { client } = await h.api.ctx.ensureModel();
  const { counts } = await client.request('countTokens', { texts: [text] });
  assert.equal(n, counts[0]);
  assert.ok(n > 5);
  assert.equal(await p.provideTokenCount(model, asRequest([LanguageModelChatMessage.User(text)])[0], none), n);
  assert.equal(await p.provideTokenCount(model, '', none), 0);
});

test('without a model a request fails with the reason and offers the fix', async (t) => {
  const h = await startExtension();
  t.after(() => h.close());
  const model = { id: 'x', name: 'x', family: 'x', version: 'x', maxInputTokens: 1, maxOutputTokens: 1, capabilities: {} };
  await assert.rejects(provider().provideLanguageModelChatResponse(model, asRequest([LanguageModelChatMessage.User('hi')]), noOptions, { report: () => undefined }, none), /no model yet/);
  assert.ok(mock.messages.some((m) => /no model yet/.test(m.message) && m.items.includes('Select Model')));
});
