// The fidelity figure's axes: which ranges and ticks each panel gets, and where a value falls
// along an axis. Kept apart from the drawing so both can be read (and tested) on their own.

export interface Axis {
  lo: number;
  hi: number;
  log: boolean;
  ticks: number[];
}

/** "Nice" tick values (1, 2, 5 x 10^k steps) covering [lo, hi] with about `count` ticks. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi)) || hi < lo) throw new Error(`niceTicks: bad range [${lo}, ${hi}]`);
  if (hi === lo) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Tick label without float noise: 0.30000000000000004 -> "0.3", 1e-4 -> "1e-4". */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6) {
    const e = Math.floor(Math.log10(Math.abs(v)));
    const m = Number((v / 10 ** e).toPrecision(3));
    return m === 1 ? `1e${e}` : `${m}e${e}`;
  }
  return String(Number(v.toPrecision(4)));
}

/** Where `v` falls along the axis, 0 at `lo` and 1 at `hi`. */
export function toUnit(a: Axis, v: number): number {
  return a.log ? (Math.log10(v) - Math.log10(a.lo)) / (Math.log10(a.hi) - Math.log10(a.lo)) : (v - a.lo) / (a.hi - a.lo);
}

/** Bytes per token from 0 to 4% past the largest point or reference line. */
export function bytesAxis(values: number[]): Axis {
  const hi = Math.max(...values) * 1.04;
  return { lo: 0, hi, log: false, ticks: niceTicks(0, hi, 6) };
}

/** Agreement in percent, from a round value just under the lowest point up to 100. */
export function agreementAxis(percents: number[]): Axis {
  const min = Math.min(...percents);
  const ticks = niceTicks(Math.max(0, Math.floor(min - 2)), 100, 6);
  const lo = Math.min(ticks[0], min);
  return { lo, hi: 100, log: false, ticks: ticks.filter((t) => t >= lo) };
}

/** 10^e parsed from its decimal form: exact, where `10 ** -4` gives 0.00009999999999999999. */
function decade(e: number): number {
  return Number(`1e${e}`);
}

/** KL on a log scale: whole decades, with a decade more where a point would sit on the frame. */
export function klAxis(values: number[]): Axis {
  const positive = values.filter((v) => v > 0);
  const lo10 = positive.length ? Math.log10(Math.min(...positive)) : -6;
  const hi10 = positive.length ? Math.log10(Math.max(...positive)) : 0;
  const loE = lo10 - Math.floor(lo10) < 0.15 ? Math.floor(lo10) - 1 : Math.floor(lo10);
  const hiE = Math.max(Math.ceil(hi10) - hi10 < 0.15 ? Math.ceil(hi10) + 1 : Math.ceil(hi10), loE + 1);
  const ticks: number[] = [];
  for (let e = loE; e <= hiE; e++) ticks.push(decade(e));
  return { lo: decade(loE), hi: decade(hiE), log: true, ticks };
}
