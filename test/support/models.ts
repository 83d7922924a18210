// Where the shared real models live (../shared/models from the repo root), and a silent log.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { LogFn } from '../../runtime/engine/session';

export const SHARED_MODELS = resolve(__dirname, '../../../shared/models');
export const STORIES = resolve(SHARED_MODELS, 'stories260k');
export const SMOLLM2 = resolve(SHARED_MODELS, 'smollm2-135m-instruct');

export const quietLog: LogFn = () => {};

/** One case of stories260k's reference.json (float64 greedy references, see its README). */
export interface StoriesReferenceCase {
  prompt_ids: number[];
  ratio: number;
  window: number;
  recent: number;
  greedy_steps: number;
  greedy_ids: number[];
  greedy_text: string;
  final_top5_logits: [number, number][];
  kept_channels: number[][][] | null;
}

export function storiesReferenceCases(): StoriesReferenceCase[] {
  return (JSON.parse(readFileSync(resolve(STORIES, 'reference.json'), 'utf8')) as { cases: StoriesReferenceCase[] }).cases;
}
