// AnswerPanel (host side) against the mocked vscode module: one reusable panel, messages queued
// until the webview is ready, only well-formed webview messages reach the commands, disposal.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { AnswerPanel, parseAnswerOutMessage } from '../../../src/panels/answerPanel';
import type { AnswerOutMessage } from '../../../core/protocol/webview';
import { mock, Uri, ViewColumn, type MockWebviewPanel } from '../../support/vscode';

const ext = Uri.file('/opt/ext');

afterEach(() => {
  AnswerPanel.current?.dispose();
  mock.reset();
});

test('answerPanel: createOrShow opens one retained, script-enabled panel and then reuses it', () => {
  const a = AnswerPanel.createOrShow(ext as never);
  const b = AnswerPanel.createOrShow(ext as never, ViewColumn.One);
  assert.equal(a, b);
  assert.equal(AnswerPanel.current, a);
  assert.equal(mock.panels.length, 1);
  const panel = mock.panels[0];
  assert.equal(panel.viewType, 'thinkLens.answer');
  assert.equal(panel.options.retainContextWhenHidden, true);
  assert.equal(panel.webview.options.enableScripts, true);
  assert.equal(panel.viewColumn, ViewColumn.One, 'the second call revealed it in the requested column');
  assert.match(panel.webview.html, /<script nonce="[^"]+" src="[^"]+\/dist\/media\/answer\.js"><\/script>/);
});

test('answerPanel: posts wait for ready, then arrive in order', async () => {
  const p = AnswerPanel.createOrShow(ext as never);
  const webview = (mock.panels[0] as MockWebviewPanel).webview;
  await p.post({ type: 'question', question: 'q', turn: 1 });
  await p.post({ type: 'token', text: 'a' });
  assert.deepEqual(webview.posted, []);
  webview.receive({ type: 'ready' });
  await p.post({ type: 'token', text: 'b' });
  assert.deepEqual(webview.posted, [
    { type: 'question', question: 'q', turn: 1 },
    { type: 'token', text: 'a' },
    { type: 'token', text: 'b' },
  ]);
});

test('answerPanel: only well-formed webview messages reach listeners', () => {
  const p = AnswerPanel.createOrShow(ext as never);
  const webview = (mock.panels[0] as MockWebviewPanel).webview;
  const got: AnswerOutMessage[] = [];
  p.onDidReceiveMessage((m) => got.push(m));
  for (const raw of [
    { type: 'stop', extra: 1 },
    { type: 'ask', question: '  why?  ' },
    { type: 'ask', question: '   ' },
    { type: 'openCitation', path: 'src/a.ts', line: 42 },
    { type: 'openCitation', path: 'src/a.ts', line: 0 },
    { type: 'openCitation', path: 'src/a.ts', line: 1.5 },
    { type: 'openCitation', path: '', line: 3 },
    { type: 'openCitation', path: 'a\0b', line: 3 },
    { type: 'openCitation', path: ['x'], line: 3 },
    { type: 'runCommand', command: 'workbench.action.reloadWindow' },
    'stop',
    null,
  ]) {
    webview.receive(raw);
  }
  assert.deepEqual(got, [{ type: 'stop' }, { type: 'ask', question: 'why?' }, { type: 'openCitation', path: 'src/a.ts', line: 42 }]);
  assert.equal(parseAnswerOutMessage({ type: 'ask', question: 'x'.repeat(20_001) }), undefined, 'oversized questions are refused');
});

test('answerPanel: closing the tab disposes the panel, fires onDidDispose, later posts resolve false', async () => {
  const p = AnswerPanel.createOrShow(ext as never);
  let disposed = 0;
  p.onDidDispose(() => disposed++);
  mock.panels[0].dispose(); // the user closes the tab
  assert.equal(disposed, 1);
  assert.equal(AnswerPanel.current, undefined);
  assert.equal(await p.post({ type: 'token', text: 'late' }), false);
  p.dispose();
  assert.equal(disposed, 1, 'dispose is idempotent');
  const again = AnswerPanel.createOrShow(ext as never);
  assert.notEqual(again, p, 'a new panel after the old one closed');
});

test('answerPanel: setTitle shortens long questions', () => {
  const p = AnswerPanel.createOrShow(ext as never);
  p.setTitle('How does the\nsupervisor restart a crashed runtime and when does it give up?');
  assert.equal(mock.panels[0].title, 'ThinK Lens: How does the supervisor restart a crash…');
});
