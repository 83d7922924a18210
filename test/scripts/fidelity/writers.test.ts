// The fidelity report writers with made-up numbers: the markdown table and the plot spec (no model
// runs here; `npm run fidelity` produces the real numbers). plot.test.ts checks the SVG figure.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cutDocuments } from '../../../scripts/fidelity/measure';
import { FidelityTally, klDivergence, logSoftmax } from '../../../scripts/fidelity/metrics';
import { fidelityMethods } from '../../../scripts/fidelity/methods';
import { fidelityMarkdown, fidelityPlotSpec } from '../../../scripts/fidelity/report';
import { fakeReport } from './fakeReport';

test('markdown: one row per method after the unpruned one, ratios to fp16, percentages and KL', () => {
  const r = fakeReport();
  const md = fidelityMarkdown(r);
  const rows = md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| method') && !l.startsWith('| ---'));
  assert.equal(rows.length, r.rows.length + 1);
  assert.equal(rows[0], '| unpruned (float32) | 680.0 | 680.0 | 2.13x | 100.0% | 0 | 0 | 60.0% |');
  assert.ok(rows.includes('| ThinK 0.5 | 480.0 | 480.0 | 1.50x | 91.0% | 0.0200 | 0.4000 | 54.6% |'), md);
  assert.ok(rows.includes('| SnapKV B=60 | 680.0 | 250.0 | 0.78x | 80.0% | 0.1200 | 2.4000 | 48.0% |'), md);
  assert.ok(rows.includes('| KIVI 4-bit | 150.0 | 150.0 | 0.47x | 96.0% | 6.00e-3 | 0.1200 | 57.6% |'), md);
  assert.match(md, /8 documents \(300-token prompt, 150-token continuation each/);
  assert.match(md, /- head_dim 8: ratios 0.5 and 0.6/);
});

test('plot spec carries every row and both reference lines', () => {
  const r = fakeReport();
  const spec = fidelityPlotSpec(r);
  assert.equal(spec.points.length, r.rows.length);
  assert.deepEqual(spec.points.find((p) => p.tag === 'B=60' && p.family === 'SnapKV'), { family: 'SnapKV', tag: 'B=60', bytesPerToken: 250, agreement: 0.8, kl: 0.12 });
  assert.deepEqual(spec.references.map((x) => x.bytesPerToken), [680, 320]);
  assert.deepEqual(spec.unconnected, ['combined']);
});

test('KL: 0 for identical logits, shift-invariant, matches a hand value; tally aggregates', () => {
  assert.equal(klDivergence([1, 2, 3], [1, 2, 3]), 0);
  assert.ok(Math.abs(klDivergence([1, 2, 3], [11, 12, 13])) < 1e-12);
  // p = (1/2, 1/2), q = (e/(1+e), 1/(1+e)): KL = log(1/2) - (1/2)(log q0 + log q1).
  const lq = logSoftmax([1, 0]);
  const expect = Math.log(0.5) - 0.5 * (lq[0] + lq[1]);
  assert.ok(Math.abs(klDivergence([0, 0], [1, 0]) - expect) < 1e-12);
  assert.throws(() => klDivergence([1], [1, 2]), /vocabularies differ/);
  const t = new FidelityTally();
  t.add([[0, 5], [5, 0]], [[0, 5], [0, 5]], [1, 1], { perToken: 100, perContextToken: 60 });
  t.add([[1, 0]], [[1, 0]], [0], { perToken: 50, perContextToken: 50 });
  assert.equal(t.positions, 3);
  assert.equal(t.agreement, 2 / 3);
  assert.equal(t.accuracy, 1);
  assert.equal(t.bytesPerToken, 75);
  assert.equal(t.bytesPerContextToken, 55);
  assert.ok(t.meanKl > 0 && t.klMax === klDivergence([5, 0], [0, 5]));
  assert.throws(() => t.add([[0]], [], [0], { perToken: 1, perContextToken: 1 }), /1 unpruned rows, 0 method rows/);
});

test('cutDocuments: consecutive windows, short streams skipped, capped', () => {
  const s = Array.from({ length: 25 }, (_, i) => i);
  const d = cutDocuments([s, [1, 2]], 6, 4, 10);
  assert.equal(d.length, 2);
  assert.deepEqual(d[1], { prompt: [10, 11, 12, 13, 14, 15], continuation: [16, 17, 18, 19] });
  assert.equal(cutDocuments([s, s], 6, 4, 3).length, 3);
});

test('methods: ThinK at 0.3-0.6, SnapKV/H2O budgets from the prompt, KIVI 2 and 4, value pruning, combinations', () => {
  const m = fidelityMethods(300);
  const labels = m.map((x) => x.label);
  for (const l of ['ThinK 0.3', 'ThinK 0.6', 'SnapKV B=120', 'H2O B=60', 'KIVI 2-bit', 'KIVI 4-bit', 'values 0.5', 'ThinK 0.5 + KIVI 2-bit', 'ThinK 0.5 + values 0.5', 'SnapKV B=120 + ThinK 0.5 + KIVI 4-bit'])
    assert.ok(labels.includes(l), `${l} missing from ${labels.join(', ')}`);
  assert.equal(new Set(labels).size, labels.length);
  for (const x of m) if (x.family !== 'ThinK' && x.family !== 'combined') assert.equal(x.think.ratio, 0, `${x.label} must not prune key channels`);
});
