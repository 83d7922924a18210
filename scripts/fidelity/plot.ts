// The fidelity figure as SVG: next-token agreement (left) and mean KL divergence (right, log scale)
// against cache bytes per token, one coloured curve per method family, with the unpruned cache
// and an fp16 cache marked as vertical reference lines. Text stays text, so the viewer's fonts
// draw it and the labels can be searched and copied.
import { agreementAxis, bytesAxis, formatTick, klAxis, toUnit, type Axis } from './axes';
import { el, escapeXml, num, svgDocument, text } from './svg';

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

/** Marker outlines around (0, 0), radius about 5, as SVG path data. */
const MARKERS = {
  circle: 'M-5 0a5 5 0 1 0 10 0a5 5 0 1 0-10 0Z',
  square: 'M-4.25-4.25h8.5v8.5h-8.5Z',
  triangle: 'M0-5.75L5 3.75H-5Z',
  invtriangle: 'M0 5.75L5-3.75H-5Z',
  diamond: 'M0-6L5 0L0 6L-5 0Z',
  cross: 'M-5-5L5 5M-5 5L5-5',
  star: 'M0-6.25L1.47-2.02L5.94-1.93L2.38 0.77L3.67 5.06L0 2.5L-3.67 5.06L-2.38 0.77L-5.94-1.93L-1.47-2.02Z',
};

type Marker = keyof typeof MARKERS;

/** Family styles in order of first appearance (matplotlib's tab10 colours). */
export const PALETTE: { color: string; marker: Marker }[] = [
  { color: '#1f77b4', marker: 'circle' },
  { color: '#ff7f0e', marker: 'square' },
  { color: '#2ca02c', marker: 'triangle' },
  { color: '#d62728', marker: 'diamond' },
  { color: '#9467bd', marker: 'invtriangle' },
  { color: '#8c564b', marker: 'cross' },
  { color: '#e377c2', marker: 'star' },
  { color: '#17becf', marker: 'circle' },
];

const INK = '#1e1e1e';
const GRID = '#e1e1e1';
const MUTED = '#6e6e6e';

/**
 * A marker centred on (x, y); the cross is strokes only, the others are filled. Data points carry
 * a title (shown on hover) with their numbers; legend markers have none.
 */
function marker(m: Marker, x: number, y: number, color: string, title?: string): string {
  const paint = m === 'cross' ? { fill: 'none', stroke: color, 'stroke-width': 2.5 } : { fill: color };
  const children = [...(title === undefined ? [] : [el('title', {}, escapeXml(title))]), el('path', { d: MARKERS[m], ...paint })];
  return el('g', { class: title === undefined ? undefined : 'point', transform: `translate(${num(x)} ${num(y)})` }, ...children);
}

function line(x1: number, y1: number, x2: number, y2: number, stroke: string, width: number, dash?: string): string {
  return el('line', { x1, y1, x2, y2, stroke, 'stroke-width': width, 'stroke-dasharray': dash });
}

interface Panel {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface PanelContent {
  yAxis: Axis;
  yLabel: string;
  value: (pt: PlotPoint) => number;
  note: string;
}

function panel(p: Panel, spec: PlotSpec, xAxis: Axis, c: PanelContent, families: string[]): string[] {
  const X = (v: number) => p.x + toUnit(xAxis, v) * p.w;
  const Y = (v: number) => p.y + p.h - toUnit(c.yAxis, v) * p.h;
  const out: string[] = [];
  for (const t of xAxis.ticks) {
    out.push(line(X(t), p.y, X(t), p.y + p.h, GRID, 1), line(X(t), p.y + p.h, X(t), p.y + p.h + 5, INK, 1.5));
    out.push(text(formatTick(t), { x: X(t), y: p.y + p.h + 22, 'text-anchor': 'middle', 'font-size': 13 }));
  }
  for (const t of c.yAxis.ticks) {
    out.push(line(p.x, Y(t), p.x + p.w, Y(t), GRID, 1), line(p.x - 5, Y(t), p.x, Y(t), INK, 1.5));
    out.push(text(formatTick(t), { x: p.x - 9, y: Y(t), dy: '0.35em', 'text-anchor': 'end', 'font-size': 13 }));
  }
  for (const r of spec.references) {
    if (r.bytesPerToken < xAxis.lo || r.bytesPerToken > xAxis.hi) continue;
    const x = X(r.bytesPerToken);
    out.push(line(x, p.y, x, p.y + p.h, MUTED, 1.5, '5 5'));
    out.push(text(r.label, { x: x - 6, y: p.y + p.h / 2, transform: `rotate(-90 ${num(x - 6)} ${num(p.y + p.h / 2)})`, 'text-anchor': 'middle', 'font-size': 11, fill: MUTED }));
  }
  out.push(line(p.x, p.y, p.x, p.y + p.h, INK, 2), line(p.x, p.y + p.h, p.x + p.w, p.y + p.h, INK, 2));
  out.push(text('cache bytes per context token', { x: p.x + p.w / 2, y: p.y + p.h + 48, 'text-anchor': 'middle', 'font-size': 15 }));
  const ly = p.y + p.h / 2;
  out.push(text(c.yLabel, { x: p.x - 70, y: ly, transform: `rotate(-90 ${num(p.x - 70)} ${num(ly)})`, 'text-anchor': 'middle', 'font-size': 15 }));
  if (c.note) out.push(text(c.note, { x: p.x + p.w, y: p.y - 8, 'text-anchor': 'end', 'font-size': 11, fill: MUTED }));
  const clamp = (v: number) => Math.min(c.yAxis.hi, Math.max(c.yAxis.lo, v));
  families.forEach((fam, i) => {
    const { color, marker: m } = PALETTE[i % PALETTE.length];
    const pts = spec.points.filter((q) => q.family === fam).sort((a, b) => a.bytesPerToken - b.bytesPerToken);
    const xy = pts.map((q) => [X(q.bytesPerToken), Y(clamp(c.value(q)))] as const);
    if (!spec.unconnected?.includes(fam) && pts.length > 1)
      out.push(el('polyline', { points: xy.map(([x, y]) => `${num(x)},${num(y)}`).join(' '), fill: 'none', stroke: color, 'stroke-width': 2.5, 'stroke-linejoin': 'round' }));
    // Points that land on the same spot (e.g. ratios giving the same kept count) share one tag.
    const spots = new Map<string, { x: number; y: number; tags: string[] }>();
    pts.forEach((q, k) => {
      const [x, y] = xy[k];
      out.push(marker(m, x, y, color, `${fam}${q.tag ? ` ${q.tag}` : ''}: ${q.bytesPerToken.toFixed(1)} bytes/token, agreement ${(q.agreement * 100).toFixed(1)}%, mean KL ${q.kl.toPrecision(3)}`));
      const key = `${Math.round(x)},${Math.round(y)}`;
      const spot = spots.get(key) ?? { x, y, tags: [] };
      if (q.tag) spot.tags.push(q.tag);
      spots.set(key, spot);
    });
    for (const { x, y, tags } of spots.values()) if (tags.length) out.push(text(tags.join('/'), { x: x + 8, y: y - 8, 'font-size': 11, fill: color }));
  });
  return out;
}

/** Width of `s` in a sans-serif font at `size` px, roughly: enough to space the legend. */
function roughTextWidth(s: string, size: number): number {
  return s.length * size * 0.56;
}

/** The two-panel figure as an SVG document. */
export function renderFidelityPlot(spec: PlotSpec, width = 1400, height = 720): string {
  if (spec.points.length === 0) throw new Error('renderFidelityPlot: no points to plot');
  for (const q of spec.points)
    if (!(q.bytesPerToken > 0 && q.agreement >= 0 && q.agreement <= 1 && q.kl >= 0)) throw new Error(`renderFidelityPlot: bad point ${JSON.stringify(q)}`);
  const families = [...new Set(spec.points.map((q) => q.family))];
  const xAxis = bytesAxis([...spec.points.map((q) => q.bytesPerToken), ...spec.references.map((r) => r.bytesPerToken)]);
  const zeros = spec.points.filter((q) => q.kl === 0).length;

  const top = 100;
  const ph = height - top - 170;
  // Left margins of 130 for tick and axis labels, 40 between the panels, 40 on the right.
  const pw = (width - 2 * 130 - 40 - 40) / 2;
  const body = [
    el('rect', { width, height, fill: 'white' }),
    text(spec.title, { x: width / 2, y: 36, 'text-anchor': 'middle', 'font-size': 22, 'font-weight': 'bold' }),
    text(spec.subtitle, { x: width / 2, y: 62, 'text-anchor': 'middle', 'font-size': 15, fill: MUTED }),
    ...panel({ x: 130, y: top, w: pw, h: ph }, spec, xAxis, { yAxis: agreementAxis(spec.points.map((q) => q.agreement * 100)), yLabel: 'next-token agreement (%)', value: (q) => q.agreement * 100, note: '' }, families),
    ...panel(
      { x: 130 + pw + 40 + 130, y: top, w: pw, h: ph },
      spec,
      xAxis,
      { yAxis: klAxis(spec.points.map((q) => q.kl)), yLabel: 'mean KL(full || method), nats', value: (q) => q.kl, note: zeros ? `${zeros} point(s) with KL 0 drawn on the bottom edge` : '' },
      families,
    ),
  ];

  // Legend: one row under both panels, centred on the estimated text widths.
  const items = families.map((f, i) => ({ f, ...PALETTE[i % PALETTE.length], w: 30 + roughTextWidth(f, 14) }));
  const total = items.reduce((s, it) => s + it.w, 0) + 30 * (items.length - 1);
  let x = Math.max(10, (width - total) / 2);
  const y = height - 40;
  const legend: string[] = [];
  for (const it of items) {
    legend.push(line(x, y, x + 22, y, it.color, 2.5), marker(it.marker, x + 11, y, it.color), text(it.f, { x: x + 30, y, dy: '0.35em', 'font-size': 14 }));
    x += it.w + 30;
  }
  body.push(el('g', { class: 'legend' }, ...legend));
  return svgDocument(width, height, body, { 'font-family': 'Helvetica, Arial, sans-serif', fill: INK });
}
