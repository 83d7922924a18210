// The cache's size against llama.cpp's default cache (F16 keys and values, nothing pruned), said
// one way wherever it is shown: `think-lens ask` prints it and the Cache Inspector displays it.
import { formatCount } from './numberFormat';
import type { CacheStats } from './protocol/rpc';

export interface CacheVsF16 {
  /** Every cache byte (tiers, codes, channel indices) per cached token, over an F16 cache's bytes per token. */
  perToken: number;
  /** One compressed token's keys and values over an F16 token's; null while nothing is compressed. */
  perCompressedToken: number | null;
}

export function cacheVsF16(c: Pick<CacheStats, 'bytesPerToken' | 'fp16FullBytesPerToken' | 'compressedBytesPerToken' | 'prunedTokens'>): CacheVsF16 | null {
  if (!(c.fp16FullBytesPerToken > 0 && c.bytesPerToken > 0)) return null;
  const compressed = c.prunedTokens > 0 && c.compressedBytesPerToken > 0 ? c.compressedBytesPerToken / c.fp16FullBytesPerToken : null;
  return { perToken: c.bytesPerToken / c.fp16FullBytesPerToken, perCompressedToken: compressed };
}

/**
 * E.g. "17,395 bytes per token, 0.755x llama.cpp's default F16 cache (23,040); a compressed token
 * 17,280 bytes (0.750x)". The whole-cache figure includes the recent full-key tokens and the channel
 * indices, so it sits a little above the compressed tokens' rate; three decimals keep 0.755x from
 * reading as 0.75x.
 */
export function describeCacheVsF16(c: Pick<CacheStats, 'bytesPerToken' | 'fp16FullBytesPerToken' | 'compressedBytesPerToken' | 'prunedTokens'>): string {
  const r = cacheVsF16(c);
  if (!r) return 'no tokens cached';
  const whole = `${formatCount(Math.round(c.bytesPerToken))} bytes per token, ${r.perToken.toFixed(3)}x llama.cpp's default F16 cache (${formatCount(c.fp16FullBytesPerToken)})`;
  return r.perCompressedToken === null ? whole : `${whole}; a compressed token ${formatCount(Math.round(c.compressedBytesPerToken))} bytes (${r.perCompressedToken.toFixed(3)}x)`;
}
