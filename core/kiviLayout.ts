// How KIVI codes are laid out (docs/compression.md): the sizes the runtime quantizes with
// (runtime/cache/kivi.ts) and the byte formula counts with (core/cacheBytes.ts). Kept apart from
// the quantizer so that the extension can count bytes without the runtime.

export type KvBits = 2 | 4;

/** Tokens per key-quantization group. */
export const KEY_GROUP = 32;

/** A group's float16 scale and float16 minimum. */
export const GROUP_PARAM_BYTES = 2 * 2;

/** Channels per value-quantization group: the largest divisor of C that is at most 32. */
export function valueGroup(C: number): number {
  for (let g = Math.min(32, C); g > 1; g--) if (C % g === 0) return g;
  return 1;
}

/** Bytes of one packed row of C codes. */
export function rowBytes(C: number, bits: KvBits | 8): number {
  return Math.ceil((C * bits) / 8);
}
