// Memory-budget mode (docs/compression.md): for n prompt tokens and N new ones, project the cache
// bytes of each candidate setting exactly as KvCache will count them (core/cacheProjection.ts,
// an upper bound over the generation) and take the most faithful one that fits; refuse before
// allocating otherwise. The budget is in MiB (x 2^20), whatever the setting's name says.
import { elementBytes, unprunedBytes } from '../../core/cacheBytes';
import { projectCacheBytes, type CacheShape } from '../../core/cacheProjection';
import { formatBytes } from '../../core/numberFormat';
import type { BudgetChoice } from '../../core/protocol/rpc';
import type { CompressionSettings, ThinkSettings } from '../../core/protocol/settings';
import { DEFAULT_EVICT } from './evict';

const MiB = 2 ** 20;

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

export function chooseByBudget(budgetMb: number, n: number, N: number, requested: Settings, m: CacheShape): BudgetChoice {
  if (!(budgetMb > 0)) throw new MemoryBudgetError(`memory budget must be a positive number of MiB, got ${budgetMb}`);
  const budget = budgetMb * MiB;
  // Prefill holds every prompt token's whole keys and values until they are compressed.
  const transient = unprunedBytes(n, m.headDim, elementBytes(m.cachePrecision));
  const choice = (s: Settings): BudgetChoice => {
    const projectedBytes = projectCacheBytes(s, n, N, m);
    return {
      budgetMb,
      think: s.think,
      compression: s.compression,
      projectedBytes,
      tokensPerMb: (n + N) / (projectedBytes / MiB),
      prefillTransientBytes: (transient.keys + transient.values) * m.layers * m.kvHeads,
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
    `a ${formatBytes(budget)} cache budget cannot hold ${n} prompt + ${N} new tokens: even ThinK 0.5 + KIVI 2-bit + SnapKV ` +
      `keeping 1 token needs ${formatBytes(projectCacheBytes(withBudget(1), n, N, m))}; ` +
      `at ${perToken.toFixed(0)} bytes per token that budget fits about ${Math.floor(budget / perToken)} tokens without eviction`,
  );
}
