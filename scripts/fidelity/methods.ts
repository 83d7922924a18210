// The methods and combinations the fidelity report compares against the unpruned cache. Token
// budgets scale with the prompt (fractions of it), so the same list bites on any model's inputs.
import type { CompressionSettings, ThinkSettings } from '../../core/protocol/settings';

export interface FidelityMethod {
  /** Curve the point belongs to in the plot. */
  family: string;
  /** What the table calls it. */
  label: string;
  /** Short tag drawn beside the marker. */
  tag: string;
  think: Partial<ThinkSettings>;
  compression: CompressionSettings;
}

export const NO_COMPRESSION: CompressionSettings = { evict: null, kvBits: null, pruneValues: 0 };

/** The unpruned cache every method is compared with. */
export const UNPRUNED: FidelityMethod = { family: 'unpruned', label: 'unpruned (float32)', tag: '', think: { ratio: 0 }, compression: NO_COMPRESSION };

export function fidelityMethods(promptTokens: number): FidelityMethod[] {
  const budget = (f: number) => Math.max(1, Math.round(f * promptTokens));
  const evict = (method: 'snapkv' | 'h2o', B: number) => ({ method, tokenBudget: B, window: 32, kernel: 7 });
  const out: FidelityMethod[] = [];
  for (const r of [0.3, 0.4, 0.5, 0.6])
    out.push({ family: 'ThinK', label: `ThinK ${r}`, tag: String(r), think: { ratio: r }, compression: NO_COMPRESSION });
  for (const [name, method] of [['SnapKV', 'snapkv'], ['H2O', 'h2o']] as const)
    for (const f of [0.2, 0.4, 0.6]) {
      const B = budget(f);
      out.push({ family: name, label: `${name} B=${B}`, tag: `B=${B}`, think: { ratio: 0 }, compression: { ...NO_COMPRESSION, evict: evict(method, B) } });
    }
  for (const bits of [4, 2] as const)
    out.push({ family: 'KIVI', label: `KIVI ${bits}-bit`, tag: `${bits}b`, think: { ratio: 0 }, compression: { ...NO_COMPRESSION, kvBits: bits } });
  for (const rho of [0.25, 0.5])
    out.push({ family: 'value pruning', label: `values ${rho}`, tag: `v${rho}`, think: { ratio: 0 }, compression: { ...NO_COMPRESSION, pruneValues: rho } });
  const B = budget(0.4);
  out.push(
    { family: 'combined', label: 'ThinK 0.5 + values 0.5', tag: 'T+V', think: { ratio: 0.5 }, compression: { ...NO_COMPRESSION, pruneValues: 0.5 } },
    { family: 'combined', label: `ThinK 0.5 + SnapKV B=${B}`, tag: 'T+S', think: { ratio: 0.5 }, compression: { ...NO_COMPRESSION, evict: evict('snapkv', B) } },
    { family: 'combined', label: 'ThinK 0.5 + KIVI 4-bit', tag: 'T+K4', think: { ratio: 0.5 }, compression: { ...NO_COMPRESSION, kvBits: 4 } },
    { family: 'combined', label: 'ThinK 0.5 + KIVI 2-bit', tag: 'T+K2', think: { ratio: 0.5 }, compression: { ...NO_COMPRESSION, kvBits: 2 } },
    { family: 'combined', label: `SnapKV B=${B} + ThinK 0.5 + KIVI 4-bit`, tag: 'S+T+K4', think: { ratio: 0.5 }, compression: { ...NO_COMPRESSION, evict: evict('snapkv', B), kvBits: 4 } },
    { family: 'combined', label: `SnapKV B=${B} + ThinK 0.5 + values 0.5 + KIVI 2-bit`, tag: 'all', think: { ratio: 0.5 }, compression: { evict: evict('snapkv', B), kvBits: 2, pruneValues: 0.5 } },
  );
  return out;
}

/** Measured on an engine with the float16 cache (the runtime's default), against the float32 unpruned cache. */
export const FLOAT16_CACHE_METHODS: FidelityMethod[] = [
  { family: 'float16 cache', label: 'float16 cache (the default), unpruned', tag: 'f16', think: { ratio: 0 }, compression: NO_COMPRESSION },
  { family: 'float16 cache', label: 'float16 cache (the default), ThinK 0.5', tag: 'f16 T', think: { ratio: 0.5 }, compression: NO_COMPRESSION },
  { family: 'float16 cache', label: 'float16 cache (the default), ThinK 0.5 + KIVI 4-bit', tag: 'f16 T+K4', think: { ratio: 0.5 }, compression: { ...NO_COMPRESSION, kvBits: 4 } },
];
