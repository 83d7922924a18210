// Where the shared real models live (../shared/models from the repo root), what a test does when
// one is missing (skips; fails in CI), and a silent log.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TestContext } from 'node:test';
import type { LogFn } from '../../runtime/engine/session';

export const SHARED_MODELS = resolve(__dirname, '../../../shared/models');
export const STORIES = resolve(SHARED_MODELS, 'stories260k');
export const SMOLLM2 = resolve(SHARED_MODELS, 'smollm2-135m-instruct');

export const quietLog: LogFn = () => {};

/**
 * Whether a missing shared model fails the test that needs it instead of skipping it: in CI
 * (CI=true) or with THINK_LENS_MODELS_REQUIRED=1, so a run can never pass by skipping them.
 */
export function modelsRequired(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI === 'true' || env.THINK_LENS_MODELS_REQUIRED === '1';
}

/**
 * Why a test needing `path` (a file or folder under ../shared/models) cannot run: a skip reason
 * ("<what> not found: <path>") when it is missing, undefined when it is there. Where models are
 * required (modelsRequired) it throws instead: called in a test, that test fails; called while a
 * file loads (`{ skip: missingModel(...) }`), the file fails.
 */
export function missingModel(path: string, what = 'model', env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (existsSync(path)) return undefined;
  const reason = `${what} not found: ${path}`;
  if (modelsRequired(env)) throw new Error(`${reason} (models are required here: CI=true or THINK_LENS_MODELS_REQUIRED=1; ../shared/models must hold the test models)`);
  return reason;
}

/** In a test: skips it and returns true when `path` is missing (`if (skipWithoutModel(t, STORIES)) return;`); fails it where models are required. */
export function skipWithoutModel(t: Pick<TestContext, 'skip'>, path: string, what = 'model', env: NodeJS.ProcessEnv = process.env): boolean {
  const why = missingModel(path, what, env);
  if (why === undefined) return false;
  t.skip(why);
  return true;
}

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
