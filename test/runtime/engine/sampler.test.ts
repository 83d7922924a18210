// Sampler: greedy, top-k, top-p, temperature and repetition penalty with Hugging Face semantics,
// checked against a plain full-sort reference and by distribution tests with fixed seeds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Sampler } from '../../../runtime/engine/sampler';
import type { SamplingParams } from '../../../core/protocol/rpc';

/** Deterministic logits in [-scale, scale). */
function randomLogits(n: number, seed: number, scale = 8): Float32Array {
  let x = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = (x / 2 ** 32) * 2 * scale - scale;
  }
  return out;
}

/**
 * The reference: full sort, HF order (penalty, temperature, top-k, top-p). Returns each allowed
 * id's probability.
 */
function referenceDistribution(logits: Float32Array, p: SamplingParams, history: number[] = []): Map<number, number> {
  const values = Array.from(logits);
  const penalty = p.repetitionPenalty ?? 1;
  for (const id of new Set(history)) values[id] = values[id] < 0 ? values[id] * penalty : values[id] / penalty;
  // Penalized values round to float32 in the sampler; do the same so ties and cuts agree.
  const v32 = Float32Array.from(values);
  const ids = Array.from(Int32Array.from(v32.keys()).sort((a, b) => v32[b] - v32[a] || a - b));
  const k = p.topK && p.topK > 0 ? Math.min(p.topK, ids.length) : ids.length;
  const top = ids.slice(0, k);
  const t = p.temperature ?? 1;
  const max = v32[top[0]];
  const w = top.map((id) => Math.exp((v32[id] - max) / t));
  const total = w.reduce((a, b) => a + b, 0);
  let keep = top.length;
  if (p.topP !== undefined && p.topP < 1) {
    let cum = 0;
    for (let i = 0; i < top.length; i++) {
      cum += w[i];
      if (cum >= p.topP * total) {
        keep = i + 1;
        break;
      }
    }
  }
  const kept = w.slice(0, keep).reduce((a, b) => a + b, 0);
  return new Map(top.slice(0, keep).map((id, i) => [id, w[i] / kept]));
}

/** Pearson's chi-square statistic of observed counts against expected probabilities. */
function chiSquare(counts: Map<number, number>, expected: Map<number, number>, draws: number): number {
  let stat = 0;
  for (const [id, prob] of expected) {
    const e = prob * draws;
    const o = counts.get(id) ?? 0;
    stat += ((o - e) * (o - e)) / e;
  }
  return stat;
}

function draw(s: Sampler, logits: Float32Array, n: number, history: number[] = []): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const id = s.sample(logits, history);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

describe('greedy', () => {
  test('argmax, ties to the lowest id, logits left untouched', () => {
    const s = new Sampler({});
    assert.equal(s.sample(Float32Array.of(0.1, 3, -2, 2.9), []), 1);
    assert.equal(s.sample(Float32Array.of(1, 5, 5, 5), []), 1);
    assert.equal(new Sampler({ temperature: 0, topK: 3, topP: 0.5 }).sample(Float32Array.of(-1, -0.5, -3), []), 1);
    const logits = randomLogits(1000, 3);
    const copy = logits.slice();
    new Sampler({ repetitionPenalty: 1.5 }).sample(logits, [1, 2, 3]);
    new Sampler({ temperature: 0.7, topK: 10, topP: 0.9, repetitionPenalty: 1.5 }).sample(logits, [1, 2, 3]);
    assert.deepEqual(logits, copy);
  });

  test('NaN counts as -Infinity; all -Infinity is an error', () => {
    assert.equal(new Sampler({}).sample(Float32Array.of(NaN, 1, NaN), []), 1);
    assert.equal(new Sampler({ temperature: 1, seed: 1 }).sample(Float32Array.of(NaN, 1, -Infinity), []), 1);
    assert.throws(() => new Sampler({ temperature: 1 }).sample(Float32Array.of(-Infinity, NaN), []), /every logit is -Infinity or NaN/);
    assert.throws(() => new Sampler({}).sample(new Float32Array(0), []), /empty logits/);
    assert.equal(new Sampler({}).sample(Float32Array.of(0, Infinity, Infinity), []), 1);
    assert.throws(() => new Sampler({ temperature: 1 }).sample(Float32Array.of(0, Infinity), []), /\+Infinity/);
  });

  test('top-k = 1 and a tiny top-p both equal greedy', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const logits = randomLogits(5000, seed);
      const expected = argmax(logits);
      assert.equal(new Sampler({ temperature: 1.3, topK: 1, seed }).sample(logits, []), expected);
      assert.equal(new Sampler({ temperature: 1.3, topP: 1e-6, seed }).sample(logits, []), expected);
    }
  });
});

describe('repetition penalty', () => {
  test('changes the choice: positive logits divided, negative multiplied, once per id', () => {
    const logits = Float32Array.of(2.0, 1.9, -5);
    assert.equal(new Sampler({}).sample(logits, [0]), 0);
    // 2.0 / 1.3 = 1.54 < 1.9
    assert.equal(new Sampler({ repetitionPenalty: 1.3 }).sample(logits, [0]), 1);
    // Repeated ids are penalized once (HF): 2.0 / 1.04 = 1.92 > 1.9 however often 0 appears.
    assert.equal(new Sampler({ repetitionPenalty: 1.04 }).sample(logits, [0, 0, 0, 0]), 0);
    const negative = Float32Array.of(-1.0, -1.1);
    assert.equal(new Sampler({}).sample(negative, [0]), 0);
    // -1.0 * 1.2 = -1.2 < -1.1
    assert.equal(new Sampler({ repetitionPenalty: 1.2 }).sample(negative, [0]), 1);
    // Ids outside the vocabulary are ignored.
    assert.equal(new Sampler({ repetitionPenalty: 1.3 }).sample(logits, [7, -1]), 0);
  });
});

describe('sampling', () => {
  test('a seed reproduces the sequence; another seed gives another', () => {
    const logits = randomLogits(2000, 11, 2);
    const run = (p: SamplingParams) => {
      const s = new Sampler(p);
      return Array.from({ length: 50 }, () => s.sample(logits, []));
    };
    const p = { temperature: 1, topK: 50, topP: 0.95 };
    assert.deepEqual(run({ ...p, seed: 42 }), run({ ...p, seed: 42 }));
    assert.notDeepEqual(run({ ...p, seed: 42 }), run({ ...p, seed: 43 }));
    const unseeded = new Sampler(p);
    assert.ok(Number.isInteger(unseeded.seed), 'a random seed is chosen and exposed');
    const first = Array.from({ length: 50 }, () => unseeded.sample(logits, []));
    assert.deepEqual(run({ ...p, seed: unseeded.seed }), first);
  });

  // Chi-square with the seeds fixed: the statistics are deterministic. Bounds are the 0.999
  // quantiles of chi-square (df 1: 10.83, df 2: 13.82, df 3: 16.27, df 7: 24.32), far below what a wrong
  // distribution (wrong temperature, off-by-one cut) produces at these draw counts.
  test('draws follow softmax(logits / T)', () => {
    const probs = [0.4, 0.3, 0.2, 0.1];
    const logits = Float32Array.from(probs, (q) => Math.log(q));
    const n = 20_000;
    const plain = draw(new Sampler({ temperature: 1, seed: 1 }), logits, n);
    assert.ok(chiSquare(plain, referenceDistribution(logits, { temperature: 1 }), n) < 16.27);
    const hot = draw(new Sampler({ temperature: 2, seed: 2 }), logits, n);
    assert.ok(chiSquare(hot, referenceDistribution(logits, { temperature: 2 }), n) < 16.27);
    // And the test can tell: temperature-2 draws do not fit the temperature-1 distribution.
    assert.ok(chiSquare(hot, referenceDistribution(logits, { temperature: 1 }), n) > 100);
  });

  test('top-k and top-p keep exactly the reference set, renormalized', () => {
    const probs = [0.05, 0.5, 0.15, 0.3]; // ranked: 1, 3, 2, 0
    const logits = Float32Array.from(probs, (q) => Math.log(q));
    const n = 20_000;
    // top-p 0.75: 0.5 < 0.75, 0.5 + 0.3 >= 0.75 -> {1, 3}
    const nucleus = draw(new Sampler({ temperature: 1, topP: 0.75, seed: 3 }), logits, n);
    assert.deepEqual([...nucleus.keys()].sort(), [1, 3]);
    assert.ok(chiSquare(nucleus, new Map([[1, 0.625], [3, 0.375]]), n) < 10.83); // df 1
    // top-p 0.85 adds id 2.
    assert.deepEqual([...draw(new Sampler({ temperature: 1, topP: 0.85, seed: 4 }), logits, 2000).keys()].sort(), [1, 2, 3]);
    // top-k 3 then top-p 0.9 of the renormalized three (0.5/0.95 + 0.3/0.95 = 0.84 < 0.9): all three.
    const both = draw(new Sampler({ temperature: 1, topK: 3, topP: 0.9, seed: 5 }), logits, n);
    assert.deepEqual([...both.keys()].sort(), [1, 2, 3]);
    assert.ok(chiSquare(both, referenceDistribution(logits, { temperature: 1, topK: 3, topP: 0.9 }), n) < 13.82); // df 2
  });

  test('large vocabulary: the kept set equals a full-sort reference', () => {
    const V = 128_256;
    for (const [seed, p] of [
      [1, { temperature: 0.8, topK: 40 }],
      [2, { temperature: 1, topP: 0.9 }],
      [3, { temperature: 0.7, topK: 500, topP: 0.5 }],
      [4, { temperature: 1.5, topP: 0.3, repetitionPenalty: 1.2 }],
      [5, { temperature: 0.5, topK: 20_000 }],
    ] as const) {
      const logits = randomLogits(V, seed, 12);
      const history = [argmax(logits), 5, 6, 7];
      const allowed = referenceDistribution(logits, p, history);
      const s = new Sampler({ ...p, seed });
      const kept = s.candidates(logits, history);
      assert.deepEqual(kept.map((c) => c.id), [...allowed.keys()].sort((a, b) => a - b), JSON.stringify(p));
      for (const { id, prob } of kept) assert.ok(Math.abs(prob - allowed.get(id)!) < 1e-9, `prob of ${id}`);
      for (const id of draw(s, logits, 20, history).keys()) assert.ok(allowed.has(id), `drew ${id}, outside the set`);
    }
  });

  test('many random cases: the kept set and probabilities equal the reference', () => {
    let x = 12345;
    const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), x / 2 ** 32);
    for (let trial = 0; trial < 300; trial++) {
      const V = 20 + Math.floor(next() * 3000);
      const p: SamplingParams = {
        temperature: 0.2 + next() * 2,
        topP: trial % 5 === 0 ? undefined : 0.05 + next() * 0.94,
        topK: trial % 3 === 0 ? 1 + Math.floor(next() * V) : undefined,
        repetitionPenalty: trial % 4 === 0 ? 1.3 : undefined,
        seed: trial,
      };
      // Coarse logits (multiples of 1/4) make many exact ties, which the id order must break.
      const logits = randomLogits(V, trial + 1, 6).map((v) => Math.round(v * 4) / 4);
      const history = [0, 1, 2, V - 1];
      const allowed = referenceDistribution(logits, p, history);
      const kept = new Sampler(p).candidates(logits, history);
      assert.deepEqual(kept.map((c) => c.id), [...allowed.keys()].sort((a, b) => a - b), `trial ${trial} ${JSON.stringify(p)} V ${V}`);
      for (const { id, prob } of kept) assert.ok(Math.abs(prob - allowed.get(id)!) < 1e-9);
    }
  });

  test('nucleus boundary among ids scattered over the vocabulary', () => {
    // 20 ids hold 90% of the mass in known shares, scattered among 5000 ids of tiny mass.
    const V = 5000;
    const logits = new Float32Array(V).fill(-30);
    const heavy: number[] = [];
    for (let j = 0; j < 20; j++) {
      const id = (j * 997 + 13) % V;
      heavy.push(id);
      logits[id] = Math.log(20 - j);
    }
    const p = { temperature: 1, topP: 0.6, seed: 9 };
    const allowed = referenceDistribution(logits, p);
    // Weights 20, 19, ... of 210: the cumulative sum first reaches 0.6 x 210 = 126 at the 8th (132).
    assert.deepEqual([...allowed.keys()], heavy.slice(0, 8));
    const counts = draw(new Sampler(p), logits, 8000);
    assert.deepEqual([...counts.keys()].sort((a, b) => a - b), [...allowed.keys()].sort((a, b) => a - b));
    assert.ok(chiSquare(counts, allowed, 8000) < 24.32); // df 7
  });
});

describe('parameters', () => {
  test('out-of-range settings are refused with the setting named', () => {
    assert.throws(() => new Sampler({ temperature: -1 }), /sampling\.temperature must be .* got -1/);
    assert.throws(() => new Sampler({ temperature: NaN }), /sampling\.temperature/);
    assert.throws(() => new Sampler({ topK: 2.5 }), /sampling\.topK must be an integer >= 0/);
    assert.throws(() => new Sampler({ topP: 0 }), /sampling\.topP must be in \(0, 1\]/);
    assert.throws(() => new Sampler({ topP: 1.5 }), /sampling\.topP/);
    assert.throws(() => new Sampler({ repetitionPenalty: 0 }), /sampling\.repetitionPenalty must be .* > 0/);
    assert.throws(() => new Sampler({ seed: 1.5 }), /sampling\.seed must be an integer/);
  });
});
