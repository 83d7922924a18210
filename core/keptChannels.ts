// How many key channels ThinK keeps per layer: the rounding the runtime prunes with
// (runtime/cache/think.ts) and the byte formula counts with, in one place.
import type { ThinkSettings } from './protocol/settings';

/** λ for layer l (one ratio for all layers, or one per layer). */
export function ratioOf(s: Pick<ThinkSettings, 'ratio'>, layer: number): number {
  return Array.isArray(s.ratio) ? s.ratio[layer] : s.ratio;
}

/** Channels kept out of D at ratio λ: D - floor(λ D). */
export function keptCount(ratio: number, D: number): number {
  return D - Math.floor(ratio * D);
}

