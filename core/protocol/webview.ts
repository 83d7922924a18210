// Part of the protocol (core/protocol/): the typed messages between the extension host and its
// webviews (Answer panel, Cache Inspector). Imports only the rest of the protocol.

import type { GenerateResult, ModelInfo, ProgressNotification, ThinkMasks } from './rpc';
import type { Device, ThinkSettings } from './settings';

export interface ContextSummary {
  filesIncluded: number;
  filesConsidered: number;
  filesSkipped: number;
  tokens: number;
  budgetTokens: number;
}

export type RuntimeState = 'stopped' | 'starting' | 'ready' | 'busy' | 'crashed' | 'failed';

/** Host -> Answer panel. */
export type AnswerInMessage =
  | { type: 'question'; question: string; turn: number }
  | { type: 'context'; summary: ContextSummary }
  | { type: 'token'; text: string }
  | { type: 'progress'; progress: ProgressNotification }
  | { type: 'masks'; masks: ThinkMasks }
  | { type: 'done'; result: Pick<GenerateResult, 'finishReason' | 'cache' | 'timings'> }
  /** A note on the current turn: why the workspace was read again instead of reusing the cache. */
  | { type: 'notice'; text: string }
  | { type: 'error'; message: string };

/** Answer panel -> host. */
export type AnswerOutMessage =
  | { type: 'ready' }
  | { type: 'stop' }
  | { type: 'ask'; question: string }
  | { type: 'openCitation'; path: string; line: number };

/** Host -> Cache Inspector. */
export type InspectorInMessage =
  | { type: 'state'; state: RuntimeState; model?: ModelInfo; device?: Device; think?: ThinkSettings; memoryBudgetMb: number }
  | { type: 'progress'; progress: ProgressNotification }
  | { type: 'masks'; masks: ThinkMasks };

/** Cache Inspector -> host. */
export type InspectorOutMessage = { type: 'ready' } | { type: 'selectHead'; layer: number; head: number };

/** One KV head of one layer (the Inspector's heatmap cell). */
export interface HeadRef {
  layer: number;
  head: number;
}

/** What the Inspector persists with `setState` so it restores after a reload. */
export interface InspectorPersistedState {
  last?: InspectorInMessage[];
  selected?: HeadRef;
}
