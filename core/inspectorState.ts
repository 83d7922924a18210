// The Cache Inspector's state, how host messages change it, and what it persists with setState so
// that it comes back as it was after a reload. Pure (no DOM, no vscode) so that both sides keep
// the latest state the same way: the webview renders it, the host panel replays `toPersisted(...).last`
// when the webview (re)loads, and the extension keeps it for an Inspector opened later.

import type { ProgressNotification, ThinkMasks } from './protocol/rpc';
import type { HeadRef, InspectorInMessage, InspectorPersistedState } from './protocol/webview';

export type RuntimeMessage = Extract<InspectorInMessage, { type: 'state' }>;

export interface InspectorState {
  runtime?: RuntimeMessage;
  /** The latest progress of any phase. */
  progress?: ProgressNotification;
  /** The latest prefill progress, kept through decode so its figures stay on screen. */
  prefill?: ProgressNotification;
  masks?: ThinkMasks;
  selected?: HeadRef;
}

export const EMPTY_INSPECTOR_STATE: InspectorState = {};

export function applyInspectorMessage(state: InspectorState, message: InspectorInMessage): InspectorState {
  switch (message.type) {
    case 'state':
      return { ...state, runtime: message };
    case 'progress': {
      const p = message.progress;
      // A new request starts over: its prefill figures replace the previous request's.
      const prefill = p.phase === 'prefill' ? p : state.prefill && state.prefill.requestId === p.requestId ? state.prefill : undefined;
      return { ...state, progress: p, prefill };
    }
    case 'masks':
      return { ...state, masks: message.masks, selected: state.selected && headExists(message.masks, state.selected) ? state.selected : undefined };
  }
}

export function selectHead(state: InspectorState, ref: HeadRef): InspectorState {
  if (!state.masks || !headExists(state.masks, ref)) return state;
  return { ...state, selected: { layer: ref.layer, head: ref.head } };
}

export function headExists(masks: ThinkMasks, ref: HeadRef): boolean {
  return Number.isInteger(ref.layer) && Number.isInteger(ref.head) && ref.layer >= 0 && ref.head >= 0 && masks.layers[ref.layer]?.[ref.head] !== undefined;
}

/** The messages that rebuild `state`, in an order that replays to the same state. */
export function toPersisted(state: InspectorState): InspectorPersistedState {
  const last: InspectorInMessage[] = [];
  if (state.runtime) last.push(state.runtime);
  if (state.prefill && state.prefill !== state.progress) last.push({ type: 'progress', progress: state.prefill });
  if (state.progress) last.push({ type: 'progress', progress: state.progress });
  if (state.masks) last.push({ type: 'masks', masks: state.masks });
  return state.selected ? { last, selected: state.selected } : { last };
}

/** Rebuilds the state saved by `toPersisted`; anything unrecognisable (an older version's state) is dropped. */
export function fromPersisted(saved: unknown): InspectorState {
  let state = EMPTY_INSPECTOR_STATE;
  if (typeof saved !== 'object' || saved === null) return state;
  const { last, selected } = saved as InspectorPersistedState;
  if (Array.isArray(last)) {
    for (const m of last) {
      if (isInspectorMessage(m)) state = applyInspectorMessage(state, m);
    }
  }
  if (selected && typeof selected === 'object') state = selectHead(state, selected);
  return state;
}

function isInspectorMessage(m: unknown): m is InspectorInMessage {
  if (typeof m !== 'object' || m === null) return false;
  const msg = m as Record<string, unknown>;
  switch (msg.type) {
    case 'state':
      return typeof msg.state === 'string' && typeof msg.memoryBudgetMb === 'number';
    case 'progress':
      return typeof msg.progress === 'object' && msg.progress !== null && typeof (msg.progress as { cache?: unknown }).cache === 'object';
    case 'masks':
      return typeof msg.masks === 'object' && msg.masks !== null && Array.isArray((msg.masks as { layers?: unknown }).layers);
    default:
      return false;
  }
}
