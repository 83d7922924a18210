// The fidelity figure as SVG: a well-formed document (checked by an XML parser), points at the
// coordinates their values give, every family drawn and named, and text escaped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { PALETTE, renderFidelityPlot, type PlotSpec } from '../../../scripts/fidelity/plot';
import { fidelityPlotSpec } from '../../../scripts/fidelity/report';
import { fakeReport } from './fakeReport';

interface Node {
  tag: string;
  attrs: Record<string, string>;
  children: Node[];
  text: string;
}

/** Parses the SVG (after checking it is well-formed XML) into a plain element tree. */
function parseSvg(svg: string): Node {
  const valid = XMLValidator.validate(svg);
  assert.equal(valid, true, JSON.stringify(valid));
  const raw = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', preserveOrder: true, trimValues: false, parseTagValue: false }).parse(svg) as Record<string, unknown>[];
  const convert = (o: Record<string, unknown>): Node | undefined => {
    const tag = Object.keys(o).find((k) => k !== ':@');
    if (!tag || tag === '#text') return undefined;
    const kids = (o[tag] as Record<string, unknown>[]).map(convert).filter((n): n is Node => n !== undefined);
    const text = (o[tag] as Record<string, unknown>[]).map((c) => (typeof c['#text'] === 'string' ? c['#text'] : '')).join('');
    return { tag, attrs: (o[':@'] as Record<string, string>) ?? {}, children: kids, text };
  };
  const roots = raw.map(convert).filter((n): n is Node => n !== undefined);
  assert.equal(roots.length, 1);
  return roots[0];
}

function all(n: Node, pred: (n: Node) => boolean): Node[] {
  return [...(pred(n) ? [n] : []), ...n.children.flatMap((c) => all(c, pred))];
}

function translate(n: Node): [number, number] {
  const m = /^translate\(([-\d.]+) ([-\d.]+)\)$/.exec(n.attrs.transform ?? '');
  assert.ok(m, `no translate on ${JSON.stringify(n.attrs)}`);
  return [Number(m[1]), Number(m[2])];
}

function near(actual: number[], expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) <= 0.01, `${what}: ${actual.join(',')} vs ${expected.join(',')}`));
}

const KNOWN: PlotSpec = {
  title: 'known',
  subtitle: 'two points',
  points: [
    { family: 'ThinK', tag: '0.3', bytesPerToken: 1000, agreement: 1, kl: 1e-2 },
    { family: 'ThinK', tag: '0.5', bytesPerToken: 500, agreement: 0.9, kl: 1e-3 },
  ],
  references: [{ label: 'ref', bytesPerToken: 250 }],
};

test('points land where their values put them on both panels', () => {
  const svg = parseSvg(renderFidelityPlot(KNOWN));
  assert.equal(svg.tag, 'svg');
  assert.equal(svg.attrs.xmlns, 'http://www.w3.org/2000/svg');
  assert.deepEqual([svg.attrs.width, svg.attrs.height, svg.attrs.viewBox], ['1400', '720', '0 0 1400 720']);
  // Panels 530 x 450 from y 100, at x 130 and x 830; bytes 0..1040; agreement 88..100 %; KL 1e-4..1e-1.
  const X = (panelX: number, bytes: number) => panelX + (bytes / 1040) * 530;
  const points = all(svg, (n) => n.attrs.class === 'point');
  assert.equal(points.length, 4);
  near(translate(points[0]), [X(130, 500), 550 - (2 / 12) * 450], 'left, 500 bytes, 90%');
  near(translate(points[1]), [X(130, 1000), 100], 'left, 1000 bytes, 100%');
  near(translate(points[2]), [X(830, 500), 550 - 450 / 3], 'right, 500 bytes, KL 1e-3');
  near(translate(points[3]), [X(830, 1000), 550 - (2 * 450) / 3], 'right, 1000 bytes, KL 1e-2');
  assert.match(points[0].children[0].text, /^ThinK 0\.5: 500\.0 bytes\/token, agreement 90\.0%, mean KL 0\.00100$/);
  // One connecting line per panel through the same coordinates.
  const lines = all(svg, (n) => n.tag === 'polyline').map((n) => n.attrs.points.split(/[ ,]/).map(Number));
  near(lines[0], [...translate(points[0]), ...translate(points[1])], 'left curve');
  near(lines[1], [...translate(points[2]), ...translate(points[3])], 'right curve');
  // The reference line at 250 bytes in both panels, dashed.
  const ref = all(svg, (n) => n.tag === 'line' && n.attrs['stroke-dasharray'] !== undefined);
  near(ref.map((n) => Number(n.attrs.x1)), [X(130, 250), X(830, 250)], 'reference lines');
  // Axis ticks are text: 88..100 on the left, decades on the right.
  const texts = all(svg, (n) => n.tag === 'text').map((n) => n.text);
  for (const t of ['88', '100', '1e-4', '0.001', '0.1', '1000', 'ref', 'known', 'two points', 'next-token agreement (%)', 'mean KL(full || method), nats']) assert.ok(texts.includes(t), `text ${t} missing`);
  assert.equal(texts.filter((t) => t === 'cache bytes per context token').length, 2);
});

test('the report figure: every family in its colour, a legend in order, unconnected families unlined', () => {
  const spec = fidelityPlotSpec(fakeReport());
  const svg = parseSvg(renderFidelityPlot(spec, 700, 400));
  const families = [...new Set(spec.points.map((p) => p.family))];
  const legend = all(svg, (n) => n.attrs.class === 'legend')[0];
  assert.deepEqual(all(legend, (n) => n.tag === 'text').map((n) => n.text), families);
  const points = all(svg, (n) => n.attrs.class === 'point');
  assert.equal(points.length, 2 * spec.points.length);
  families.forEach((f, i) => {
    const mine = points.filter((p) => p.children[0].text.startsWith(`${f} `));
    assert.equal(mine.length, 2 * spec.points.filter((p) => p.family === f).length, f);
    const path = mine[0].children[1];
    assert.equal(path.attrs.fill === 'none' ? path.attrs.stroke : path.attrs.fill, PALETTE[i].color, f);
  });
  // ThinK, SnapKV, H2O, KIVI are sweeps (two panels each); value pruning has one point, combined is unconnected.
  const lined = new Set(all(svg, (n) => n.tag === 'polyline').map((n) => n.attrs.stroke));
  assert.deepEqual([...lined], PALETTE.slice(0, 4).map((p) => p.color));
  const texts = all(svg, (n) => n.tag === 'text').map((n) => n.text);
  assert.ok(texts.includes('1 point(s) with KL 0 drawn on the bottom edge'));
});

test('points of a family on the same spot share one tag', () => {
  const same = { family: 'ThinK', bytesPerToken: 500, agreement: 0.9, kl: 1e-3 };
  const spec: PlotSpec = { ...KNOWN, points: [...KNOWN.points, { ...same, tag: '0.6' }] };
  const texts = all(parseSvg(renderFidelityPlot(spec)), (n) => n.tag === 'text').map((n) => n.text);
  assert.equal(texts.filter((t) => t === '0.5/0.6').length, 2, texts.join('|'));
  assert.ok(!texts.includes('0.5') && !texts.includes('0.6'));
});

test('titles, labels and tags are escaped and read back unchanged', () => {
  const odd = `a<b> & "c" 'd'`;
  const spec: PlotSpec = {
    ...KNOWN,
    title: odd,
    points: KNOWN.points.map((p) => ({ ...p, family: `<${odd}>`, tag: '&amp;' })),
    references: [{ label: '</text>', bytesPerToken: 250 }],
  };
  const out = renderFidelityPlot(spec);
  assert.ok(!out.includes('<b>') && !out.includes('</text></text>'));
  const texts = all(parseSvg(out), (n) => n.tag === 'text').map((n) => n.text);
  for (const t of [odd, `<${odd}>`, '</text>', '&amp;']) assert.ok(texts.includes(t), `${t} not read back`);
  // Control characters XML cannot hold are dropped rather than written.
  parseSvg(renderFidelityPlot({ ...KNOWN, title: 'bell\u0007' }));
});

test('bad input is refused', () => {
  assert.throws(() => renderFidelityPlot({ ...KNOWN, points: [] }), /no points/);
  assert.throws(() => renderFidelityPlot({ ...KNOWN, points: [{ ...KNOWN.points[0], agreement: 1.5 }] }), /bad point/);
  assert.throws(() => renderFidelityPlot({ ...KNOWN, points: [{ ...KNOWN.points[0], bytesPerToken: 0 }] }), /bad point/);
});
