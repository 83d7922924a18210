// Number formatting for every figure a user reads: the webviews, the status bar, notifications and
// the CLI. Bytes are always in binary units (KiB, MiB: the memory budget is x 2^20 too). Fixed to
// en-US so that what is shown is the same on every machine (and in the rendering tests).

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** 12345 -> "12,345". */
export function formatCount(n: number): string {
  return Number.isFinite(n) ? integer.format(n) : '–';
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Binary units: 512 -> "512 B", 1536 -> "1.5 KiB", 3 * 2^20 -> "3.0 MiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '–';
  let unit = 0;
  let v = bytes;
  while (v >= 1024 && unit < UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(v)} B`;
  // Two decimals below 10 would be noise for most figures; one keeps changes visible while streaming.
  return `${v.toFixed(1)} ${UNITS[unit]}`;
}

/** 0.5 -> "50%", 0.125 -> "12.5%". */
export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return '–';
  const tenths = Math.round(fraction * 1000) / 10;
  return `${Number.isInteger(tenths) ? tenths : tenths.toFixed(1)}%`;
}

/** Tokens per second, one decimal below 100. */
export function formatRate(tokensPerSec: number): string {
  if (!Number.isFinite(tokensPerSec) || tokensPerSec <= 0) return '–';
  return tokensPerSec >= 100 ? `${formatCount(tokensPerSec)} tok/s` : `${tokensPerSec.toFixed(1)} tok/s`;
}

/** Milliseconds as "850 ms" or "1.2 s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
