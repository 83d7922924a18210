// Answer panel webview entry. Speaks only the typed protocol of core/protocol: it receives
// AnswerInMessage from the host and posts AnswerOutMessage back.

import type { AnswerInMessage, AnswerOutMessage } from '../../core/protocol/webview';
import { byId } from '../shared/element';
import { onHostMessage, vscodeApi } from '../shared/vscodeApi';
import { type AnswerState, applyAnswerMessage, EMPTY_ANSWER_STATE } from './model';
import { AnswerView } from './view';

const api = vscodeApi<AnswerOutMessage, never>();
const view = new AnswerView(byId('app'), {
  stop: () => api.postMessage({ type: 'stop' }),
  ask: (question) => api.postMessage({ type: 'ask', question }),
  openCitation: (path, line) => api.postMessage({ type: 'openCitation', path, line }),
});

let state: AnswerState = EMPTY_ANSWER_STATE;
let frame = 0;

// Tokens can arrive far faster than frames; the state absorbs them and the DOM catches up once
// per animation frame.
function scheduleRender(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    view.render(state);
  });
}

onHostMessage<AnswerInMessage>(['question', 'context', 'notice', 'token', 'progress', 'masks', 'done', 'error'], (message) => {
  state = applyAnswerMessage(state, message);
  scheduleRender();
});

view.render(state);
api.postMessage({ type: 'ready' });
