// Memory-budget mode (docs/compression.md): for n prompt tokens and N new ones, project the cache
// bytes of each candidate setting exactly as KvCache will count them (upper bound over the
// generation) and take the most faithful one that fits; refuse before allocating otherwise.
import type { BudgetChoice, ModelInfo } from '../../core/protocol/rpc';
import type { CompressionSettings, ThinkSettings } from '../../core/protocol/settings';
import { DEFAULT_EVICT } from './evict';
import { KEY_GROUP, rowBytes, valueGroup } from './kivi';
import { keptCount, ratioOf } from './think';

const MiB = 2 ** 20;
const F32 = 4;

export class MemoryBudgetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryBudgetError';
  }
}

interface Settings {
  think: ThinkSettings;
  compression: CompressionSettings;
}

type Shape = Pick<ModelInfo, 'layers' | 'kvHeads' | 'headDim'>;

/** Cache bytes after compression plus N generated tokens (the largest the cache gets after prefill). */
export function projectCacheBytes(s: Settings, n: number, N: number, m: Shape): number {
  const { think, compression: c } = s;
  const D = m.headDim;
  const w = Math.min(c.evict?.window ?? DEFAULT_EVICT.window, n);
  const stored = c.evict && n - w > c.evict.tokenBudget ? c.evict.tokenBudget + w : n;
  const compressedLayout = c.kvBits !== null || c.pruneValues > 0;
  const ratios = Array.from({ length: m.layers }, (_, l) => ratioOf(think, l));
  const compresses = compressedLayout || ratios.some((r) => r > 0);
  const fromPrompt = compresses ? Math.max(0, stored - think.recent) : 0;
  const fullAtEnd = stored - fromPrompt + N;
  const full = compresses && think.flush > 0 ? Math.min(fullAtEnd, think.flush) : fullAtEnd;
  const compressed = fromPrompt + fullAtEnd - full;
  const quantized = c.kvBits ? KEY_GROUP * Math.floor(compressed / KEY_GROUP) : 0;
  const compact = compressed - quantized;
  const bits = c.kvBits ?? 8;
  const keptV = keptCount(c.pruneValues, D);
  let perHead = 0;
  for (const ratio of ratios) {
    const kept = compresses ? keptCount(ratio, D) : D;
    const keys = quantized * rowBytes(kept, bits) + (quantized / KEY_GROUP) * kept * 2 * 2 + compact * kept * F32 + full * D * F32;
    const values = compressedLayout
      ? quantized * (rowBytes(keptV, bits) + (keptV / valueGroup(keptV)) * 2 * 2) + compact * keptV * F32 + full * D * F32
      : (compressed + full) * D * F32;
    const indices = kept * 8 + (keptV < D ? keptV * 8 : 0);
    perHead += keys + values + indices;
  }
  return perHead * m.kvHeads;
}

/** Candidates from the most to the least faithful (see the fidelity report in the README). */
function candidates(requested: Settings): Settings[] {
  const think = { ...requested.think, ratio: Math.max(0.5, typeof requested.think.ratio === 'number' ? requested.think.ratio : Math.max(...requested.think.ratio)) };
  const none: CompressionSettings = { evict: null, kvBits: null, pruneValues: 0 };
  return [
    requested,
    { think, compression: none },
    { think, compression: { ...none, kvBits: 4 } },
    { think, compression: { ...none, kvBits: 2 } },
  ];
}

export function chooseByBudget(budgetMb: number, n: number, N: number, requested: Settings, m: Shape): BudgetChoice {
  if (!(budgetMb > 0)) throw new MemoryBudgetError(`memory budget must be a positive number of MB, got ${budgetMb}`);
  const budget = budgetMb * MiB;
  const choice = (s: Settings): BudgetChoice => {
    const projectedBytes = projectCacheBytes(s, n, N, m);
    return {
      budgetMb,
      think: s.think,
      compression: s.compression,
      projectedBytes,
      tokensPerMb: (n + N) / (projectedBytes / MiB),
      prefillTransientBytes: n * m.layers * m.kvHeads * m.headDim * 2 * F32,
    };
  };
  for (const s of candidates(requested)) if (projectCacheBytes(s, n, N, m) <= budget) return choice(s);

  // Last resort: SnapKV on top of ThinK 0.5 + KIVI 2-bit, with the largest token budget that fits.
  const compact = candidates(requested)[3];
  const withBudget = (B: number): Settings => ({ think: compact.think, compression: { ...compact.compression, evict: { method: 'snapkv', tokenBudget: B, ...DEFAULT_EVICT } } });
  let lo = 1;
  let hi = n;
  if (projectCacheBytes(withBudget(lo), n, N, m) <= budget) {
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (projectCacheBytes(withBudget(mid), n, N, m) <= budget) lo = mid;
      else hi = mid - 1;
    }
    return choice(withBudget(lo));
  }
  const perToken = projectCacheBytes(compact, 1024, 0, m) / 1024;
  throw new MemoryBudgetError(
    `a ${budgetMb} MB cache budget cannot hold ${n} prompt + ${N} new tokens: even ThinK 0.5 + KIVI 2-bit + SnapKV ` +
      `keeping 1 token needs ${(projectCacheBytes(withBudget(1), n, N, m) / MiB).toFixed(2)} MB; ` +
      `at ${perToken.toFixed(0)} bytes per token that budget fits about ${Math.floor(budget / perToken)} tokens without eviction`,
  );
}
