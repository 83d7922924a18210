// Cache Inspector webview entry. Receives InspectorInMessage, posts InspectorOutMessage, and keeps
// its state in VS Code's webview state (InspectorPersistedState) so a reload restores it.

import { applyInspectorMessage, fromPersisted, type InspectorState, selectHead, toPersisted } from '../../core/inspectorState';
import type { HeadRef, InspectorInMessage, InspectorOutMessage, InspectorPersistedState } from '../../core/protocol/webview';
import { byId } from '../shared/element';
import { onHostMessage, vscodeApi } from '../shared/vscodeApi';
import { InspectorView } from './view';

const api = vscodeApi<InspectorOutMessage, InspectorPersistedState>();
let state: InspectorState = fromPersisted(api.getState());
let frame = 0;

const view = new InspectorView(byId('app'), (ref: HeadRef) => {
  state = selectHead(state, ref);
  api.postMessage({ type: 'selectHead', layer: ref.layer, head: ref.head });
  commit();
});

// Progress can arrive many times a second; persist and draw at most once per frame.
function commit(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    api.setState(toPersisted(state));
    view.render(state);
  });
}

onHostMessage<InspectorInMessage>(['state', 'progress', 'masks'], (message) => {
  state = applyInspectorMessage(state, message);
  commit();
});

view.render(state);
api.postMessage({ type: 'ready' });
