// How many prompt tokens fit the user's memory budget for the KV cache, given the model's shape
// and the cache settings the runtime will use. The bytes are the runtime's own projection
// (core/cacheProjection.ts over the byte formula in core/cacheBytes.ts): the prompt this allows is
// one that memory-budget mode then accepts with the settings as they are, and the cache it builds
// holds exactly the projected bytes (with flush off; flush only lowers them).
//
// For a prompt of P tokens and A answer tokens the cache at its largest holds
//   projectCacheBytes(settings, P, A)   keys, values, KIVI scales and int64 channel indices,
// and P fits when that is at most memoryBudgetMb x 2^20 (the budget is in MiB) for P and for every
// shorter prompt (the packer may use fewer tokens; KIVI's grouping makes the bytes dip where 32
// compact tokens become one quantized group, so the last group's worth of lengths is checked too).
// The answer is the largest such P, clamped to contextLength - A (the model's window), then
// reduced by `overheadTokens` (question, chat template) that share the prompt with the files.

import { projectCacheBytes, type CacheSettings } from '../cacheProjection';
import { keptCount } from '../keptChannels';
import { KEY_GROUP } from '../kiviLayout';
import type { ModelInfo } from '../protocol/rpc';
import { DEFAULT_COMPRESSION, type CompressionSettings, type ThinkSettings } from '../protocol/settings';

export type ModelShape = Pick<ModelInfo, 'layers' | 'kvHeads' | 'headDim' | 'contextLength' | 'cachePrecision'>;

export interface BudgetInput {
  /** MiB (x 2^20), whatever the setting's name says. */
  memoryBudgetMb: number;
  model: ModelShape;
  think: Pick<ThinkSettings, 'ratio' | 'recent' | 'flush'>;
  /** What the runtime composes with ThinK; the extension asks for none (the runtime's default). */
  compression?: CompressionSettings;
  /** Tokens reserved for the answer (maxNewTokens). */
  answerTokens: number;
  /** Prompt tokens that are not file context (system message, question, template markup). */
  overheadTokens?: number;
  /** The most prompt tokens to read, whatever memory and the context allow (prefill time on a CPU). */
  maxPromptTokens?: number;
}

export interface TokenBudget {
  /** Prompt tokens available for file context (>= 0). */
  tokens: number;
  /** Which limit decided it: the memory budget, the model's context, or maxPromptTokens. */
  limitedBy: 'memory' | 'context' | 'cap';
  /** The whole prompt's length (files plus overhead) that the limits allow. */
  promptTokens: number;
  /** The cache bytes the runtime projects for that prompt and the answer. */
  projectedBytes: number;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(`token budget: ${message}`);
}

/** Kept key channels per layer for `ratio` (one value or one per layer), checked: it comes from settings. */
export function keptChannels(ratio: number | number[], layers: number, headDim: number): number[] {
  const ratios = Array.isArray(ratio) ? ratio : new Array<number>(layers).fill(ratio);
  check(ratios.length === layers, `ratio has ${ratios.length} values for ${layers} layers`);
  return ratios.map((r, l) => {
    check(Number.isFinite(r) && r >= 0 && r < 1, `ratio ${Array.isArray(ratio) ? `[${l}] ` : ''}must be in [0, 1), got ${r}`);
    return keptCount(r, headDim);
  });
}

export function tokenBudget(input: BudgetInput): TokenBudget {
  const { memoryBudgetMb, model, think, answerTokens } = input;
  const overhead = input.overheadTokens ?? 0;
  check(Number.isFinite(memoryBudgetMb) && memoryBudgetMb > 0, `memoryBudgetMb must be a number > 0, got ${memoryBudgetMb}`);
  for (const k of ['layers', 'kvHeads', 'headDim', 'contextLength'] as const) {
    check(Number.isInteger(model[k]) && model[k] > 0, `model.${k} must be a positive integer, got ${model[k]}`);
  }
  keptChannels(think.ratio, model.layers, model.headDim);
  check(Number.isInteger(think.recent) && think.recent >= 0, `recent must be an integer >= 0, got ${think.recent}`);
  check(Number.isInteger(think.flush) && think.flush >= 0, `flush must be an integer >= 0, got ${think.flush}`);
  check(Number.isInteger(answerTokens) && answerTokens >= 0, `answerTokens must be an integer >= 0, got ${answerTokens}`);
  check(Number.isInteger(overhead) && overhead >= 0, `overheadTokens must be an integer >= 0, got ${overhead}`);
  const cap = input.maxPromptTokens;
  check(cap === undefined || (Number.isInteger(cap) && cap >= 0), `maxPromptTokens must be an integer >= 0, got ${cap}`);

  const settings: CacheSettings = { think, compression: input.compression ?? DEFAULT_COMPRESSION };
  const budget = memoryBudgetMb * 2 ** 20;
  const bytes = (P: number) => projectCacheBytes(settings, P, answerTokens, model);
  // Non-decreasing in P: the most any prompt of at most P tokens needs (see the header).
  const span = settings.compression.kvBits ? KEY_GROUP : 1;
  const fits = (P: number) => {
    for (let p = Math.max(0, P - span + 1); p <= P; p++) if (bytes(p) > budget) return false;
    return true;
  };
  const windowTokens = Math.max(0, model.contextLength - answerTokens);
  const contextTokens = Math.min(windowTokens, input.maxPromptTokens ?? Infinity);
  let prompt: number;
  let limitedBy: TokenBudget['limitedBy'];
  if (fits(contextTokens)) {
    prompt = contextTokens;
    limitedBy = !fits(contextTokens + 1) ? 'memory' : contextTokens < windowTokens ? 'cap' : 'context';
  } else {
    // The largest P that fits, by bisection over [0, contextTokens); P = 0 may not fit either.
    let lo = -1;
    let hi = contextTokens;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (fits(mid)) lo = mid;
      else hi = mid;
    }
    prompt = Math.max(0, lo);
    limitedBy = 'memory';
  }
  return { tokens: Math.max(0, prompt - overhead), limitedBy, promptTokens: prompt, projectedBytes: bytes(prompt) };
}
