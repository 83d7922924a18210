// `@thinklens` (src/chat/participant.ts) on the vscode mock: it packs the workspace as Ask About
// Codebase does and answers in the chat view (real runtime, stories260k), lists the packed files as
// references, turns path:line citations into anchors, refuses in Restricted Mode, and offers the
// model commands when there is no model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { mock, Location, MockChatResponseStream, Uri } from '../support/vscode';
import { recordGenerates } from '../support/recordGenerates';
import { startExtension } from '../support/extensionHarness';
import { realRuntimeMissing, STORIES_DIR } from '../support/runtimeLaunch';
import { missingModel } from '../support/models';
import { CitationStream, PARTICIPANT_ID, type ThinkLensChatMetadata } from '../../src/chat/participant';

const runtimeMissing = realRuntimeMissing() ?? missingModel(STORIES_DIR, 'model folder');
const settings = { 'thinkLens.model': STORIES_DIR, 'thinkLens.maxNewTokens': 8, 'thinkLens.memoryBudgetMb': 64 };
const FILES = {
  'src/parse.ts': 'export function parse(text: string) {\n  return text.split("\\n").map((l) => l.trim());\n}\n',
  'src/write.ts': 'export function write(lines: string[]) {\n  return lines.join("\\n");\n}\n',
  'README.md': '# tiny\nParses and writes lines.\n',
};

const metadata = (r: unknown) => (r as { metadata: ThinkLensChatMetadata }).metadata;

test('package.json contributes @thinklens', async () => {
  const pkg = (await import('../../package.json')).default as Record<string, any>;
  const [p] = pkg.contributes.chatParticipants;
  assert.equal(p.id, PARTICIPANT_ID);
  assert.equal(p.name, 'thinklens');
  assert.equal(p.fullName, 'ThinK Lens');
});

test('@thinklens packs the workspace, lists the packed files as references and streams the answer as markdown', { skip: runtimeMissing }, async (t) => {
  const h = await startExtension({ files: FILES, settings });
  t.after(() => h.close());
  const rec = recordGenerates(h);
  const { result, stream } = await mock.sendChatRequest(PARTICIPANT_ID, 'What does parse do?');
  assert.equal(metadata(result).outcome, 'answered');
  // The prompt is Ask About Codebase's: packed files with paths, then the question.
  assert.equal(rec.sent.length, 1);
  assert.equal(rec.sent[0].cache, 'reset');
  const user = 'messages' in rec.sent[0].prompt ? rec.sent[0].prompt.messages.at(-1)!.content : '';
  assert.match(user, /=== src\/parse\.ts ===/);
  assert.match(user, /Question: What does parse do\?$/);
  const refs = stream.of('reference').map((r) => (r.value as Uri).fsPath).sort();
  assert.deepEqual(refs, Object.keys(FILES).map((f) => path.join(h.workspace, f)).sort());
  assert.ok(stream.of('progress').some((p) => /Read 3 of 3 files/.test(p.value)));
  assert.ok(stream.of('markdown').length > 1, 'the answer streamed in parts');
  assert.ok(stream.text.startsWith(rec.results[0].text), 'the markdown is the generated text');
  assert.equal(rec.results[0].finishReason, 'length');
  assert.match(stream.text, /stopped at 8 tokens/);
  assert.equal(h.api.ctx.inspector.progress?.requestId, rec.sent[0].requestId, 'the Cache Inspector follows the request');
});

test('Restricted Mode: @thinklens refuses, reads nothing and starts no runtime', async (t) => {
  const h = await startExtension({ files: FILES, trusted: false, settings });
  t.after(() => h.close());
  const { result, stream } = await mock.sendChatRequest(PARTICIPANT_ID, 'What does parse do?');
  assert.equal(metadata(result).outcome, 'restricted');
  assert.match(stream.markdownText, /disabled in Restricted Mode\. Trust the workspace to use it\./);
  assert.deepEqual(stream.of('button').map((b) => b.command.command), ['workbench.trust.manage']);
  assert.equal(stream.of('reference').length, 0);
  assert.equal(h.api.ctx.supervisor.current, undefined, 'no runtime process');
  assert.equal(vscode.workspace.textDocuments.length, 0);
});

test('no model: @thinklens says how to get one, with the model commands as buttons', async (t) => {
  const h = await startExtension({ files: FILES });
  t.after(() => h.close());
  const { result, stream } = await mock.sendChatRequest(PARTICIPANT_ID, 'What does parse do?');
  assert.equal(metadata(result).outcome, 'noModel');
  assert.match(stream.markdownText, /no model yet/);
  assert.deepEqual(stream.of('button').map((b) => b.command.command), ['thinkLens.selectModel', 'thinkLens.downloadModel']);
});

test('no folder, or an empty question: explained, nothing run', async (t) => {
  const h = await startExtension({ settings });
  t.after(() => h.close());
  assert.equal(metadata((await mock.sendChatRequest(PARTICIPANT_ID, 'Hi')).result).outcome, 'noWorkspace');
  mock.setWorkspaceFolders([h.workspace]);
  assert.equal(metadata((await mock.sendChatRequest(PARTICIPANT_ID, '   ')).result).outcome, 'noQuestion');
  assert.equal(h.api.ctx.supervisor.current, undefined);
});

test('citations become anchors to the line, also when split across tokens; code blocks and paths outside the workspace stay text', (t) => {
  mock.reset();
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'tl-cite-'));
  t.after(() => fs.rmSync(ws, { recursive: true, force: true }));
  mock.setWorkspaceFolders([ws]);
  const stream = new MockChatResponseStream();
  const out = new CitationStream(stream as unknown as vscode.ChatResponseStream);
  const text = 'See src/pa|rse.ts:2 and `src/write.ts:1`.\n```\nsrc/parse.ts:1\n```\nNot ../out.ts:3 or 10:30; then src/a.ts:7';
  for (const piece of text.split('|')) out.push(piece);
  out.end();
  const anchors = stream.of('anchor');
  assert.deepEqual(
    anchors.map((a) => [a.title, (a.value as Location).uri.fsPath, (a.value as Location).range.start.line]),
    [
      ['src/parse.ts:2', path.join(ws, 'src/parse.ts'), 1],
      ['src/write.ts:1', path.join(ws, 'src/write.ts'), 0],
      ['src/a.ts:7', path.join(ws, 'src/a.ts'), 6],
    ],
  );
  assert.equal(stream.text, text.replace('|', '').replace('`src/write.ts:1`', 'src/write.ts:1'), 'all the text, backticks around a cited path dropped');
  assert.match(stream.markdownText, /```\nsrc\/parse\.ts:1\n```/, 'inside a code block the citation stays as written');
  assert.deepEqual([...out.cited].sort(), [path.join(ws, 'src/a.ts'), path.join(ws, 'src/parse.ts'), path.join(ws, 'src/write.ts')]);
});
