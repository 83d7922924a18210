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

/** One figure a remote server reports (already formatted by the host). */
export interface RemoteFigure {
  label: string;
  value: string;
}

/**
 * The engine is a remote OpenAI-compatible server (thinkLens.engine): ThinK pruning and the cache
 * are the server's business; the Inspector shows what it reports, fetched after each answer.
 */
export interface RemoteEngineInfo {
  /** The API's base URL. */
  url: string;
  /** One plain line: the engine is remote and what that means for ThinK and the cache. */
  note: string;
  /** What the server reported last (best effort), and where from. */
  metrics?: { source: string; figures: RemoteFigure[] };
}

/** Host -> Cache Inspector. */
export type InspectorInMessage =
  | { type: 'state'; state: RuntimeState; model?: ModelInfo; device?: Device; think?: ThinkSettings; memoryBudgetMb: number; remote?: RemoteEngineInfo }
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
