// How many prompt tokens fit the user's memory budget for the KV cache, given the model's shape
// and ThinK's settings. Pure arithmetic, mirroring runtime/kvcache.ts's byte accounting (float32,
// keys + values, what CacheStats reports as keyBytes + valueBytes):
//
//   D = headDim, H = kvHeads, L = layers, kept_l = D - floor(ratio_l * D)   (ThinK's rounding)
//   bytes per pruned token = 4 * H * sum_l (kept_l + D)        (compact keys + full values)
//   bytes per full token   = 4 * H * L * 2D                    (full keys + full values)
//
// For a prompt of P tokens followed by A answer tokens, the cache at its largest holds
//   full   F = min(P, recent) + A    (the recent window and every generated token keep full keys;
//                                     flush can only lower this, so the estimate is safe)
//   pruned P - min(P, recent)
// plus the kept-channel indices, a constant 8 * H * sum_l kept_l bytes (int64, as the runtime stores
// and counts them), so P fits when
//   pruned * bytesPerPruned + F * bytesPerFull + indexBytes <= budgetMb * 2^20.
// Compression the runtime may add on top (eviction, KIVI, value pruning: docs/compression.md) only
// lowers the real figure, so this ThinK-only float32 estimate is on the safe side.
// The answer is the largest such P, then clamped to contextLength - A (the model's window) and
// reduced by `overheadTokens` (question, chat template) that share the prompt with the files.

import type { ModelInfo } from '../protocol/rpc';
import type { ThinkSettings } from '../protocol/settings';

export type ModelShape = Pick<ModelInfo, 'layers' | 'kvHeads' | 'headDim' | 'contextLength'>;

export interface BudgetInput {
  memoryBudgetMb: number;
  model: ModelShape;
  think: Pick<ThinkSettings, 'ratio' | 'recent'>;
  /** Tokens reserved for the answer (maxNewTokens). */
  answerTokens: number;
  /** Prompt tokens that are not file context (system message, question, template markup). */
  overheadTokens?: number;
}

export interface TokenBudget {
  /** Prompt tokens available for file context (>= 0). */
  tokens: number;
  /** Which limit decided it. */
  limitedBy: 'memory' | 'context';
  bytesPerPrunedToken: number;
  bytesPerFullToken: number;
  /** The prompt length (before overhead) the memory alone allows. */
  memoryTokens: number;
}

const BYTES_PER_ELEMENT = 4;
const INDEX_BYTES = 8;

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(`token budget: ${message}`);
}

/** Kept key channels per layer for `ratio` (one value or one per layer). */
export function keptChannels(ratio: number | number[], layers: number, headDim: number): number[] {
  const ratios = Array.isArray(ratio) ? ratio : new Array<number>(layers).fill(ratio);
  check(ratios.length === layers, `ratio has ${ratios.length} values for ${layers} layers`);
  return ratios.map((r, l) => {
    check(Number.isFinite(r) && r >= 0 && r < 1, `ratio ${Array.isArray(ratio) ? `[${l}] ` : ''}must be in [0, 1), got ${r}`);
    return headDim - Math.floor(r * headDim);
  });
}

export function bytesPerToken(model: Pick<ModelShape, 'layers' | 'kvHeads' | 'headDim'>, ratio: number | number[]): { pruned: number; full: number; indexBytes: number } {
  const { layers, kvHeads, headDim } = model;
  const kept = keptChannels(ratio, layers, headDim);
  const pruned = BYTES_PER_ELEMENT * kvHeads * kept.reduce((s, k) => s + k + headDim, 0);
  const full = BYTES_PER_ELEMENT * kvHeads * layers * 2 * headDim;
  const indexBytes = INDEX_BYTES * kvHeads * kept.reduce((s, k) => s + k, 0);
  return { pruned, full, indexBytes };
}

/** Cache bytes at their largest for a prompt of `prompt` tokens and `answer` generated tokens. */
export function cacheBytes(prompt: number, answer: number, recent: number, perToken: { pruned: number; full: number; indexBytes: number }): number {
  const fullPrompt = Math.min(prompt, recent);
  return (prompt - fullPrompt) * perToken.pruned + (fullPrompt + answer) * perToken.full + perToken.indexBytes;
}

export function tokenBudget(input: BudgetInput): TokenBudget {
  const { memoryBudgetMb, model, think, answerTokens } = input;
  const overhead = input.overheadTokens ?? 0;
  check(Number.isFinite(memoryBudgetMb) && memoryBudgetMb > 0, `memoryBudgetMb must be a number > 0, got ${memoryBudgetMb}`);
  for (const k of ['layers', 'kvHeads', 'headDim', 'contextLength'] as const) {
    check(Number.isInteger(model[k]) && model[k] > 0, `model.${k} must be a positive integer, got ${model[k]}`);
  }
  check(Number.isInteger(think.recent) && think.recent >= 0, `recent must be an integer >= 0, got ${think.recent}`);
  check(Number.isInteger(answerTokens) && answerTokens >= 0, `answerTokens must be an integer >= 0, got ${answerTokens}`);
  check(Number.isInteger(overhead) && overhead >= 0, `overheadTokens must be an integer >= 0, got ${overhead}`);

  const per = bytesPerToken(model, think.ratio);
  const bytes = Math.floor(memoryBudgetMb * 1024 * 1024) - per.indexBytes;
  let memoryTokens: number;
  if (bytes < 0 || answerTokens * per.full > bytes) {
    memoryTokens = 0;
  } else {
    const recent = think.recent;
    const afterAnswer = bytes - answerTokens * per.full;
    // Up to `recent` prompt tokens cost full width, the rest the pruned width.
    const fullFit = Math.floor(afterAnswer / per.full);
    if (fullFit <= recent) memoryTokens = fullFit;
    else memoryTokens = recent + Math.floor((afterAnswer - recent * per.full) / per.pruned);
  }
  const contextTokens = Math.max(0, model.contextLength - answerTokens);
  const limitedBy = memoryTokens <= contextTokens ? 'memory' : 'context';
  const prompt = Math.min(memoryTokens, contextTokens);
  return { tokens: Math.max(0, prompt - overhead), limitedBy, bytesPerPrunedToken: per.pruned, bytesPerFullToken: per.full, memoryTokens };
}
