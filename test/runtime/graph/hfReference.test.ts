// Our forward against Hugging Face transformers' own, not only against our float64 reference
// (test/support/reference.ts shares the weight loader and the RoPE frequencies with the runtime).
// test/fixtures/hf/ was made by scripts/hf-fixtures/make.py with transformers and torch (versions in
// each reference.json): per variant a tiny random model written by transformers' save_pretrained
// (config.json in transformers' own form, float32 safetensors) and what transformers' eager forward,
// the model cast to float64, gives for a fixed prompt of ids: the greedy continuation and the
// logits of every row that predicts it (plus the row after it). rope.json holds transformers' RoPE
// frequencies and attention factor for real models' rope_scaling settings.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import type { CompressionSettings, ThinkSettings } from '../../../core/protocol/settings';
import { Engine } from '../../../runtime/engine/engine';
import { ropeAttentionFactor, ropeInvFreq } from '../../../runtime/graph/rope';
import { loadConfig, parseConfig } from '../../../runtime/model/config';
import { openModel } from '../../../runtime/model/weights';
import { collectingHooks } from '../../support/hooks';
import { quietLog } from '../../support/models';
import { ReferenceModel } from '../../support/reference';

const HF = resolve(__dirname, '../../fixtures/hf');

interface HfReference {
  variant: string;
  provenance: { transformers: string; torch: string };
  /** The Hub-style config.json the model was made from (legacy rope_theta / rope_scaling keys). */
  hub_config: Record<string, unknown>;
  prompt_ids: number[];
  greedy_ids: number[];
  /** logits[i]: the row at position prompt_ids.length - 1 + i; greedy_ids.length + 1 rows. */
  logits: number[][];
  min_top2_gap: number;
  warnings: string[];
}

interface RopeProbe {
  hub_config: Record<string, unknown>;
  saved_config?: Record<string, unknown>;
  inv_freq?: number[];
  attention_scaling?: number;
  error?: string;
}

// ThinK off (ratio 0 keeps every key channel) and no cache compression: the plain forward,
// which is what transformers computes.
const PLAIN: ThinkSettings = { ratio: 0, window: 32, recent: 32, flush: 0 };
const NO_COMPRESSION: CompressionSettings = { evict: null, kvBits: null, pruneValues: 0 };

// The graph runs in float32, transformers' reference in float64. Float32 rounding through two
// layers gives differences of about 1e-6..1e-5 on logits of a few units; 1e-4 leaves room for
// that and is still far below both the smallest top-1/top-2 gap make.py accepts on the greedy path
// (2e-3) and what a real fault moves (a wrong RoPE frequency or norm moves logits by 1e-2 and more).
const GRAPH_TOL = 1e-4;
// The default float16 cache rounds every cached key and value to 11 significant bits (relative
// error up to 2^-12 each); through two layers that moves these logits by up to about 4e-3
// (measured). 2e-2 bounds it with room, and a real fault (above) still exceeds it.
const HALF_TOL = 2e-2;
// Our float64 reference against transformers' float64 model: transformers computes the RoPE
// frequencies and cos/sin in float32 even in a float64 model (its rotary embedding forces float32),
// so the two differ by float32 rounding of the angles (about 1e-6 on the logits), not by 1e-12.
const REF_TOL = 2e-5;

const variants = readdirSync(HF, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

function readReference(variant: string): HfReference {
  return JSON.parse(readFileSync(join(HF, variant, 'reference.json'), 'utf8')) as HfReference;
}

function maxAbsDiff(got: ArrayLike<number>, want: number[]): number {
  assert.equal(got.length, want.length, 'logit row length');
  let d = 0;
  for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(got[i] - want[i]));
  return d;
}

test('the fixtures cover every supported architecture, llama3 and yarn RoPE, tied and untied heads', () => {
  const refs = variants.map(readReference);
  const archs = new Set(refs.map((r) => (r.hub_config.architectures as string[])[0]));
  assert.deepEqual([...archs].sort(), ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM', 'Qwen3ForCausalLM']);
  const rope = new Set(refs.map((r) => (r.hub_config.rope_scaling as { rope_type?: string } | undefined)?.rope_type ?? 'default'));
  assert.deepEqual([...rope].sort(), ['default', 'llama3', 'yarn']);
  const tied = new Set(refs.map((r) => r.hub_config.tie_word_embeddings));
  assert.deepEqual([...tied].sort(), [false, true]);
  for (const r of refs) {
    assert.deepEqual(r.warnings, [], `${r.variant}: make.py's own checks`);
    assert.ok(new Set(r.greedy_ids).size >= 4, `${r.variant}: a greedy continuation that is not a constant`);
    assert.equal(r.logits.length, r.greedy_ids.length + 1);
  }
});

for (const variant of variants) {
  test(`${variant}: config.json as transformers saves it reads the same as the Hub-style config`, () => {
    const hf = readReference(variant);
    assert.deepEqual(loadConfig(join(HF, variant)), parseConfig(hf.hub_config, 'hub config.json'));
  });

  test(`${variant}: the onnxruntime graph (float32) gives transformers' logits and greedy ids`, async (t) => {
    const dir = join(HF, variant);
    const hf = readReference(variant);
    const steps = hf.greedy_ids.length;
    // Chunks of 16 over the 40-token prompt: the prefill crosses chunk boundaries (cached + new tokens).
    const engine = await Engine.load({ modelDir: dir, prefillChunk: 16, cachePrecision: 'float32' }, quietLog);
    try {
      // Every row: the prompt's last, then transformers' greedy ids fed back (teacher forcing).
      const tf = await engine.teacherForce({ promptIds: hf.prompt_ids, continuation: hf.greedy_ids, think: PLAIN, compression: NO_COMPRESSION, chunk: 5 });
      const rowDiffs = tf.logits.map((row, i) => maxAbsDiff(row, hf.logits[i]));
      // Our own greedy decode, one token a step, and the logits after the whole continuation.
      const r = await engine.generate({ requestId: variant, prompt: { ids: hf.prompt_ids }, maxNewTokens: steps, think: PLAIN, compression: NO_COMPRESSION }, collectingHooks());
      assert.deepEqual(r.ids, hf.greedy_ids, 'greedy ids');
      assert.equal(r.finishReason, 'length');
      rowDiffs.push(maxAbsDiff(engine.lastLogits!, hf.logits[steps]));
      const worst = Math.max(...rowDiffs);
      t.diagnostic(`${variant}: max |logit - transformers| = ${worst.toExponential(2)} (prompt's last row ${rowDiffs[0].toExponential(2)}); transformers ${hf.provenance.transformers}`);
      assert.ok(worst < GRAPH_TOL, `logits within ${GRAPH_TOL} of transformers' float64 (per row: ${rowDiffs.map((d) => d.toExponential(1)).join(' ')})`);
    } finally {
      await engine.dispose();
    }
  });

  test(`${variant}: with the default float16 cache, transformers' logits within ${HALF_TOL}`, async (t) => {
    const hf = readReference(variant);
    const engine = await Engine.load({ modelDir: join(HF, variant), prefillChunk: 16 }, quietLog);
    try {
      assert.equal(engine.loaded.model.cachePrecision, 'float16', 'the default cache precision');
      const tf = await engine.teacherForce({ promptIds: hf.prompt_ids, continuation: hf.greedy_ids, think: PLAIN, compression: NO_COMPRESSION, chunk: 5 });
      const rowDiffs = tf.logits.map((row, i) => maxAbsDiff(row, hf.logits[i]));
      const worst = Math.max(...rowDiffs);
      t.diagnostic(`${variant}: float16 cache, max |logit - transformers| = ${worst.toExponential(2)}`);
      assert.ok(worst < HALF_TOL, `logits within ${HALF_TOL} (per row: ${rowDiffs.map((d) => d.toExponential(1)).join(' ')})`);
      assert.ok(worst > 0, 'the float16 cache rounds: a difference of exactly 0 would mean it is not in use');
    } finally {
      await engine.dispose();
    }
  });

  test(`${variant}: the float64 reference forward gives transformers' logits and greedy ids`, (t) => {
    const hf = readReference(variant);
    const steps = hf.greedy_ids.length;
    const ref = new ReferenceModel(openModel(join(HF, variant))).greedy(hf.prompt_ids, steps + 1, null);
    assert.deepEqual(ref.ids.slice(0, steps), hf.greedy_ids, 'greedy ids');
    const worst = Math.max(...ref.stepLogits.map((row, i) => maxAbsDiff(row, hf.logits[i])));
    t.diagnostic(`${variant}: reference max |logit - transformers| = ${worst.toExponential(2)}`);
    assert.ok(worst < REF_TOL, `reference logits within ${REF_TOL} of transformers' (max diff ${worst})`);
  });
}

test("RoPE frequencies and attention factor equal transformers' for real models' rope settings", (t) => {
  const rope = JSON.parse(readFileSync(join(HF, 'rope.json'), 'utf8')) as { probes: Record<string, RopeProbe> };
  const names = Object.keys(rope.probes);
  assert.ok(names.length >= 8);
  for (const name of names) {
    const p = rope.probes[name];
    if (p.error) {
      t.diagnostic(`${name}: transformers refused it (${p.error})`);
      continue;
    }
    const forms: [string, Record<string, unknown>][] = [['hub config', p.hub_config]];
    if (p.saved_config && !('error' in p.saved_config)) forms.push(["transformers' serialization", p.saved_config]);
    for (const [form, json] of forms) {
      const cfg = parseConfig(json, `${name} (${form})`);
      const inv = ropeInvFreq(cfg);
      const want = p.inv_freq!;
      assert.equal(inv.length, want.length, `${name} (${form}): frequency count`);
      // transformers computes the frequencies in float32: agreement to float32 rounding (seen: 3.3e-7 at worst).
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(inv[i] - want[i]) / want[i]);
      assert.ok(worst < 2e-6, `${name} (${form}): inverse frequencies within 2e-6 relative (worst ${worst.toExponential(2)})`);
      const factor = ropeAttentionFactor(cfg);
      assert.ok(Math.abs(factor - p.attention_scaling!) < 1e-9, `${name} (${form}): attention factor ${factor}, transformers ${p.attention_scaling}`);
    }
  }
});
