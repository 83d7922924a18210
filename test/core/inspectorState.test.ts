// The Cache Inspector's state and its setState round trip (core/inspectorState.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyInspectorMessage, EMPTY_INSPECTOR_STATE, fromPersisted, type InspectorState, selectHead, toPersisted } from '../../core/inspectorState';
import type { InspectorInMessage } from '../../core/protocol/webview';
import { loadFixture } from '../support/webviewHarness';

const session = loadFixture<InspectorInMessage>('inspector-session').messages;
const full: InspectorState = selectHead(session.reduce(applyInspectorMessage, EMPTY_INSPECTOR_STATE), { layer: 2, head: 3 });

test('inspectorState: prefill figures survive decode; a new request drops them', () => {
  assert.equal(full.progress?.phase, 'done');
  assert.equal(full.prefill?.phase, 'prefill');
  assert.equal(full.prefill?.processed, full.prefill?.total);
  const next = applyInspectorMessage(full, { type: 'progress', progress: { ...full.progress!, requestId: 'ask-2', phase: 'decode' } });
  assert.equal(next.prefill, undefined);
});

test('inspectorState: toPersisted/fromPersisted restore the same state, through JSON', () => {
  const restored = fromPersisted(JSON.parse(JSON.stringify(toPersisted(full))));
  assert.deepEqual(restored, full);
  assert.deepEqual(restored.selected, { layer: 2, head: 3 });
});

test('inspectorState: selections must exist; junk state is ignored', () => {
  assert.equal(selectHead(full, { layer: 9, head: 0 }), full);
  assert.equal(selectHead(full, { layer: 1.5, head: 0 }), full);
  assert.equal(selectHead(EMPTY_INSPECTOR_STATE, { layer: 0, head: 0 }), EMPTY_INSPECTOR_STATE);
  const fewer = applyInspectorMessage(full, { type: 'masks', masks: { headDim: 8, layers: full.masks!.layers.slice(0, 1) } });
  assert.equal(fewer.selected, undefined);
  assert.deepEqual(fromPersisted('nonsense'), {});
  assert.deepEqual(fromPersisted({ last: [{ type: 'evil' }, { type: 'progress' }, null], selected: { layer: 0, head: 0 } }), {});
});
