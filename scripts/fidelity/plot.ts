// The fidelity figure: next-token agreement (left) and mean KL divergence (right, log scale)
// against cache bytes per token, one coloured curve per method family, with the unpruned cache
// and an fp16 cache marked as vertical reference lines.
import { Canvas, type Rgb } from './raster';

export interface PlotPoint {
  family: string;
  /** Short tag drawn beside the marker (e.g. "0.5", "B=128"). */
  tag: string;
  /** Cache bytes per token of context read (the x axis). */
  bytesPerToken: number;
  /** Fraction in [0, 1]. */
  agreement: number;
  /** Mean KL(p_full || p_method) in nats. */
  kl: number;
}

export interface PlotSpec {
  title: string;
  subtitle: string;
  points: PlotPoint[];
  /** Vertical reference lines (e.g. the unpruned cache, an fp16 cache). */
  references: { label: string; bytesPerToken: number }[];
  /** Families drawn as markers only (their points are unrelated settings, not a sweep). */
  unconnected?: string[];
}

type Marker = 'circle' | 'square' | 'triangle' | 'diamond' | 'cross' | 'star' | 'invtriangle';

const PALETTE: { color: Rgb; marker: Marker }[] = [
  { color: [31, 119, 180], marker: 'circle' },
  { color: [255, 127, 14], marker: 'square' },
  { color: [44, 160, 44], marker: 'triangle' },
  { color: [214, 39, 40], marker: 'diamond' },
  { color: [148, 103, 189], marker: 'invtriangle' },
  { color: [140, 86, 75], marker: 'cross' },
  { color: [227, 119, 194], marker: 'star' },
  { color: [23, 190, 207], marker: 'circle' },
];

const INK: Rgb = [30, 30, 30];
const GRID: Rgb = [225, 225, 225];
const MUTED: Rgb = [110, 110, 110];

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

function drawMarker(c: Canvas, m: Marker, x: number, y: number, color: Rgb, r = 5): void {
  switch (m) {
    case 'circle':
      return c.disc(x, y, r, color);
    case 'square':
      return c.fillRect(x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7, color);
    case 'triangle':
      return c.polygon([[x, y - r * 1.15], [x + r, y + r * 0.75], [x - r, y + r * 0.75]], color);
    case 'invtriangle':
      return c.polygon([[x, y + r * 1.15], [x + r, y - r * 0.75], [x - r, y - r * 0.75]], color);
    case 'diamond':
      return c.polygon([[x, y - r * 1.2], [x + r, y], [x, y + r * 1.2], [x - r, y]], color);
    case 'cross':
      c.line(x - r, y - r, x + r, y + r, color, 2.5);
      return c.line(x - r, y + r, x + r, y - r, color, 2.5);
    case 'star': {
      const pts: [number, number][] = [];
      for (let i = 0; i < 10; i++) {
        const a = -Math.PI / 2 + (i * Math.PI) / 5;
        const rr = i % 2 ? r * 0.5 : r * 1.25;
        pts.push([x + rr * Math.cos(a), y + rr * Math.sin(a)]);
      }
      return c.polygon(pts, color);
    }
  }
}

interface Panel {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Axis {
  lo: number;
  hi: number;
  log: boolean;
}

function toUnit(a: Axis, v: number): number {
  return a.log ? (Math.log10(v) - Math.log10(a.lo)) / (Math.log10(a.hi) - Math.log10(a.lo)) : (v - a.lo) / (a.hi - a.lo);
}

function drawPanel(
  c: Canvas,
  p: Panel,
  spec: PlotSpec,
  xAxis: Axis,
  yAxis: Axis,
  yTicks: number[],
  yLabel: string,
  value: (pt: PlotPoint) => number,
  families: string[],
  note: string,
): void {
  const X = (v: number) => p.x + toUnit(xAxis, v) * p.w;
  const Y = (v: number) => p.y + p.h - toUnit(yAxis, v) * p.h;
  const xTicks = niceTicks(xAxis.lo, xAxis.hi, 6);
  for (const t of xTicks) {
    c.line(X(t), p.y, X(t), p.y + p.h, GRID, 1);
    c.line(X(t), p.y + p.h, X(t), p.y + p.h + 5, INK, 1.5);
    c.text(formatTick(t), X(t), p.y + p.h + 10, INK, 2, 'center');
  }
  for (const t of yTicks) {
    c.line(p.x, Y(t), p.x + p.w, Y(t), GRID, 1);
    c.line(p.x - 5, Y(t), p.x, Y(t), INK, 1.5);
    c.text(formatTick(t), p.x - 10, Y(t) - 7, INK, 2, 'right');
  }
  for (const r of spec.references) {
    if (r.bytesPerToken < xAxis.lo || r.bytesPerToken > xAxis.hi) continue;
    c.dashedLine(X(r.bytesPerToken), p.y, X(r.bytesPerToken), p.y + p.h, MUTED, 1.5, 5);
    c.textVertical(r.label, X(r.bytesPerToken) - 10, p.y + p.h / 2, MUTED, 1);
  }
  c.line(p.x, p.y, p.x, p.y + p.h, INK, 2);
  c.line(p.x, p.y + p.h, p.x + p.w, p.y + p.h, INK, 2);
  c.text('cache bytes per context token', p.x + p.w / 2, p.y + p.h + 34, INK, 2, 'center');
  c.textVertical(yLabel, p.x - 95, p.y + p.h / 2, INK, 2);
  if (note) c.text(note, p.x + p.w, p.y - 16, MUTED, 1, 'right');
  families.forEach((fam, i) => {
    const { color, marker } = PALETTE[i % PALETTE.length];
    const pts = spec.points.filter((q) => q.family === fam).sort((a, b) => a.bytesPerToken - b.bytesPerToken);
    const clamp = (v: number) => Math.min(yAxis.hi, Math.max(yAxis.lo, v));
    const connect = !spec.unconnected?.includes(fam);
    for (let k = 1; connect && k < pts.length; k++) c.line(X(pts[k - 1].bytesPerToken), Y(clamp(value(pts[k - 1]))), X(pts[k].bytesPerToken), Y(clamp(value(pts[k]))), color, 2.5);
    // Points that land on the same spot (e.g. ratios giving the same kept count) share one tag.
    const spots = new Map<string, { x: number; y: number; tags: string[] }>();
    for (const q of pts) {
      const x = X(q.bytesPerToken);
      const y = Y(clamp(value(q)));
      drawMarker(c, marker, x, y, color);
      const key = `${Math.round(x)},${Math.round(y)}`;
      const spot = spots.get(key) ?? { x, y, tags: [] };
      if (q.tag) spot.tags.push(q.tag);
      spots.set(key, spot);
    }
    for (const { x, y, tags } of spots.values()) if (tags.length) c.text(tags.join('/'), x + 8, y - 12, color, 1);
  });
}

/** Renders the two-panel figure. */
export function renderFidelityPlot(spec: PlotSpec, width = 1400, height = 720): Canvas {
  if (spec.points.length === 0) throw new Error('renderFidelityPlot: no points to plot');
  for (const q of spec.points)
    if (!(q.bytesPerToken > 0 && q.agreement >= 0 && q.agreement <= 1 && q.kl >= 0)) throw new Error(`renderFidelityPlot: bad point ${JSON.stringify(q)}`);
  const c = new Canvas(width, height);
  const families = [...new Set(spec.points.map((q) => q.family))];
  c.text(spec.title, width / 2, 18, INK, 3, 'center');
  c.text(spec.subtitle, width / 2, 50, MUTED, 2, 'center');

  const maxBytes = Math.max(...spec.points.map((q) => q.bytesPerToken), ...spec.references.map((r) => r.bytesPerToken));
  const xTicks = niceTicks(0, maxBytes * 1.04, 6);
  const xAxis: Axis = { lo: 0, hi: xTicks[xTicks.length - 1] < maxBytes * 1.04 ? maxBytes * 1.04 : xTicks[xTicks.length - 1], log: false };

  const minAgree = Math.min(...spec.points.map((q) => q.agreement)) * 100;
  const aTicks = niceTicks(Math.max(0, Math.floor(minAgree - 2)), 100, 6);
  const aAxis: Axis = { lo: Math.min(aTicks[0], minAgree), hi: 100, log: false };

  const positive = spec.points.map((q) => q.kl).filter((v) => v > 0);
  // Whole decades, with a decade more where a point would sit on the frame.
  const lo10 = positive.length ? Math.log10(Math.min(...positive)) : -6;
  const hi10 = positive.length ? Math.log10(Math.max(...positive)) : 0;
  const klLo = 10 ** (lo10 - Math.floor(lo10) < 0.15 ? Math.floor(lo10) - 1 : Math.floor(lo10));
  const klHi = 10 ** (Math.ceil(hi10) - hi10 < 0.15 ? Math.ceil(hi10) + 1 : Math.ceil(hi10));
  const klAxis: Axis = { lo: klLo, hi: Math.max(klHi, klLo * 10), log: true };
  const klTicks: number[] = [];
  for (let e = Math.round(Math.log10(klAxis.lo)); e <= Math.round(Math.log10(klAxis.hi)); e++) klTicks.push(10 ** e);
  const zeros = spec.points.filter((q) => q.kl === 0).length;

  const top = 100;
  const ph = height - top - 170;
  // Left margins of 130 for tick and axis labels, 40 between the panels, 40 on the right.
  const pw = (width - 2 * 130 - 40 - 40) / 2;
  drawPanel(c, { x: 130, y: top, w: pw, h: ph }, spec, xAxis, aAxis, aTicks.filter((t) => t >= aAxis.lo), 'next-token agreement (%)', (q) => q.agreement * 100, families, '');
  drawPanel(
    c,
    { x: 130 + pw + 40 + 130, y: top, w: pw, h: ph },
    spec,
    xAxis,
    klAxis,
    klTicks,
    'mean KL(full || method), nats',
    (q) => q.kl,
    families,
    zeros ? `${zeros} point(s) with KL 0 drawn on the bottom edge` : '',
  );

  // Legend: one row under both panels.
  const items = families.map((f, i) => ({ f, ...PALETTE[i % PALETTE.length], w: 30 + Canvas.textWidth(f, 2) }));
  const total = items.reduce((s, it) => s + it.w, 0) + 30 * (items.length - 1);
  let x = Math.max(10, (width - total) / 2);
  const y = height - 40;
  for (const it of items) {
    c.line(x, y, x + 22, y, it.color, 2.5);
    drawMarker(c, it.marker, x + 11, y, it.color);
    c.text(it.f, x + 30, y - 7, INK, 2);
    x += it.w + 30;
  }
  return c;
}
