// The Answer panel's state, and how each host message changes it. Pure (no DOM), so the
// transitions are unit-tested in Node; the view only draws what this holds.

import type { CacheStats, FinishReason, ProgressNotification, ThinkMasks, Timings } from '../../core/protocol/rpc';
import type { AnswerInMessage, ContextSummary } from '../../core/protocol/webview';

export type TurnStatus = 'waiting' | 'prefill' | 'decode' | 'done' | 'stopped' | 'error';

export interface Turn {
  turn: number;
  question: string;
  /** The markdown streamed so far. */
  answer: string;
  status: TurnStatus;
  finishReason?: FinishReason;
  timings?: Timings;
  error?: string;
  /** Why the workspace was read again for this turn, when it was. */
  notice?: string;
}

export interface AnswerState {
  /** Bumped when a turn-1 question starts a new conversation (the view then clears the transcript). */
  conversation: number;
  turns: Turn[];
  context?: ContextSummary;
  progress?: ProgressNotification;
  cache?: CacheStats;
  masks?: ThinkMasks;
}

export const EMPTY_ANSWER_STATE: AnswerState = { conversation: 0, turns: [] };

/** True while the latest turn is still being answered (the Stop button is live). */
export function isRunning(state: AnswerState): boolean {
  const last = state.turns[state.turns.length - 1];
  return last !== undefined && (last.status === 'waiting' || last.status === 'prefill' || last.status === 'decode');
}

export function applyAnswerMessage(state: AnswerState, message: AnswerInMessage): AnswerState {
  switch (message.type) {
    case 'question': {
      const turn: Turn = { turn: message.turn, question: message.question, answer: '', status: 'waiting' };
      // Turn 1 is a new question on a fresh cache: the previous conversation and its figures go.
      if (message.turn <= 1 && state.turns.length > 0) return { conversation: state.conversation + 1, turns: [turn] };
      return { ...state, progress: undefined, turns: [...state.turns, turn] };
    }
    case 'context':
      return { ...state, context: message.summary };
    case 'token':
      return withLastTurn(state, (t) => ({ ...t, answer: t.answer + message.text, status: isFinished(t) ? t.status : 'decode' }));
    case 'progress': {
      const phase = message.progress.phase;
      const next = { ...state, progress: message.progress, cache: message.progress.cache };
      if (phase === 'done') return next;
      return withLastTurn(next, (t) => (isFinished(t) ? t : { ...t, status: phase }));
    }
    case 'masks':
      return { ...state, masks: message.masks };
    case 'done': {
      const { finishReason, cache, timings } = message.result;
      return withLastTurn({ ...state, cache }, (t) => ({ ...t, status: finishReason === 'cancelled' ? 'stopped' : 'done', finishReason, timings }));
    }
    case 'error':
      return withLastTurn(state, (t) => ({ ...t, status: 'error', error: message.message }));
    case 'notice':
      return withLastTurn(state, (t) => ({ ...t, notice: message.text }));
  }
}

function isFinished(t: Turn): boolean {
  return t.status === 'done' || t.status === 'stopped' || t.status === 'error';
}

/** Applies `change` to the latest turn, opening an untitled one when output arrives before any question. */
function withLastTurn(state: AnswerState, change: (t: Turn) => Turn): AnswerState {
  const turns = state.turns.length ? state.turns.slice() : [{ turn: 1, question: '', answer: '', status: 'waiting' as const }];
  turns[turns.length - 1] = change(turns[turns.length - 1]);
  return { ...state, turns };
}
