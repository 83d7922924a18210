// InspectorPanel (host side) against the mocked vscode module: the latest state replayed whenever
// the webview (re)loads, restore through the registered serializer, message validation.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { InspectorPanel, parseInspectorOutMessage } from '../../../src/panels/inspectorPanel';
import type { ProgressNotification } from '../../../core/protocol/rpc';
import type { InspectorInMessage } from '../../../core/protocol/webview';
import { mock, MockWebviewPanel, Uri } from '../../support/vscode';
import { loadFixture } from '../../support/webviewHarness';

const ext = Uri.file('/opt/ext');
const session = loadFixture<InspectorInMessage>('inspector-session').messages;
const progress = (phase: ProgressNotification['phase'], requestId = 'ask-1') => {
  const p = session.find((m) => m.type === 'progress' && m.progress.phase === phase) as Extract<InspectorInMessage, { type: 'progress' }>;
  return { type: 'progress' as const, progress: { ...p.progress, requestId } };
};

afterEach(() => {
  InspectorPanel.current?.dispose();
  mock.reset();
});

test('inspectorPanel: on ready it replays the latest state, prefill, progress and masks', async () => {
  const panel = InspectorPanel.createOrShow(ext as never);
  const webview = (mock.panels[0] as MockWebviewPanel).webview;
  assert.equal(mock.panels[0].viewType, 'thinkLens.cacheInspector');
  assert.equal(mock.panels[0].options.retainContextWhenHidden, undefined, 'not retained: it replays instead');
  for (const m of session) await panel.post(m);
  assert.deepEqual(webview.posted, [], 'nothing is sent before the webview listens');
  webview.receive({ type: 'ready' });
  const lastPrefill = [...session].reverse().find((m) => m.type === 'progress' && m.progress.phase === 'prefill');
  const expected = [session[0], lastPrefill, session[session.length - 1], session.find((m) => m.type === 'masks')];
  assert.deepEqual(webview.posted, expected);
  // Live from now on; a reloaded webview gets the snapshot again.
  await panel.post(progress('decode'));
  assert.equal(webview.posted.length, 5);
  webview.receive({ type: 'ready' });
  assert.deepEqual(webview.posted.slice(5), [session[0], lastPrefill, progress('decode'), session.find((m) => m.type === 'masks')]);
});

test('inspectorPanel: a new request forgets the previous request\'s prefill', async () => {
  const panel = InspectorPanel.createOrShow(ext as never);
  const webview = (mock.panels[0] as MockWebviewPanel).webview;
  await panel.post(progress('prefill', 'a'));
  await panel.post(progress('decode', 'b'));
  webview.receive({ type: 'ready' });
  assert.deepEqual(webview.posted, [progress('decode', 'b')]);
});

test('inspectorPanel: the serializer revives a restored panel with fresh html and options', async () => {
  const reg = InspectorPanel.registerSerializer(ext as never);
  const serializer = mock.serializers.get('thinkLens.cacheInspector') as { deserializeWebviewPanel(p: unknown, s: unknown): Promise<void> };
  assert.ok(serializer, 'registered under the panel\'s viewType');
  const restored = new MockWebviewPanel('thinkLens.cacheInspector', 'ThinK Lens: Cache Inspector', undefined, {});
  await serializer.deserializeWebviewPanel(restored, { last: [], selected: { layer: 0, head: 0 } });
  assert.match(restored.webview.html, /dist\/media\/inspector\.js/);
  assert.equal(restored.webview.options.enableScripts, true);
  assert.equal(restored.webview.options.localResourceRoots?.length, 2);
  assert.ok(InspectorPanel.current);
  assert.equal(InspectorPanel.createOrShow(ext as never), InspectorPanel.current, 'createOrShow reuses the revived panel');
  assert.equal(mock.panels.length, 0, 'no second panel created');
  reg.dispose();
  assert.equal(mock.serializers.size, 0);
});

test('inspectorPanel: selectHead needs non-negative integer indices', () => {
  assert.deepEqual(parseInspectorOutMessage({ type: 'selectHead', layer: 3, head: 2 }), { type: 'selectHead', layer: 3, head: 2 });
  for (const bad of [{ type: 'selectHead', layer: -1, head: 0 }, { type: 'selectHead', layer: 0.5, head: 0 }, { type: 'selectHead', layer: '1', head: 0 }, { type: 'x' }, []]) {
    assert.equal(parseInspectorOutMessage(bad), undefined, JSON.stringify(bad));
  }
});
