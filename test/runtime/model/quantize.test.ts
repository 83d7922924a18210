// Weight quantization for MatMulNBits: codes round-trip within half a step per block (also when
// K is not a multiple of the block), and quantized models run through the real graph and stay
// close to the unquantized one.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Engine } from '../../../runtime/engine/engine';
import { buildModelGraph } from '../../../runtime/graph/model';
import { WeightFile } from '../../../runtime/graph/weightFile';
import { dequantize, quantizeBlockwise, type WeightBits } from '../../../runtime/model/quantize';
import { quantizeTensor } from '../../../runtime/model/quantizeTensor';
import { openModel, readTensor } from '../../../runtime/model/weights';
import { collectingHooks } from '../../support/hooks';
import { STORIES, quietLog, skipWithoutModel } from '../../support/models';

for (const bits of [8, 4] as WeightBits[]) {
  test(`${bits}-bit blocks of 32 round-trip within half a step, zeros exact, K = 172 padded`, () => {
    const N = 5;
    const K = 172; // stories260k's intermediate size: 5 whole blocks and a partial one
    let x = 11;
    const w = Float32Array.from({ length: N * K }, (_, i) => (i % 17 === 0 ? 0 : ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5)));
    const q = quantizeBlockwise(w, N, K, bits);
    assert.equal(q.codes.length, N * 6 * ((32 * bits) / 8));
    const back = dequantize(q);
    for (let n = 0; n < N; n++)
      for (let k = 0; k < K; k++) {
        const step = q.scales[n * 6 + Math.floor(k / 32)];
        const i = n * K + k;
        assert.ok(Math.abs(back[i] - w[i]) <= step / 2 + 1e-7, `row ${n} col ${k}: ${back[i]} vs ${w[i]} (step ${step})`);
        if (w[i] === 0) assert.equal(back[i], 0, 'zero stays exactly zero');
      }
  });
}

test('int8 and int4 weights through the real graph: close to float32, int8 closer', async (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const prompt = [1, 403, 407, 261, 378, 432, 317, 394, 261, 280, 294, 426];
  const logits = async (quantize?: 'int8' | 'int4') => {
    const e = await Engine.load({ modelDir: STORIES, quantize }, quietLog);
    try {
      const r = await e.generate({ requestId: 'q', prompt: { ids: prompt }, maxNewTokens: 1, think: { ratio: 0 } }, collectingHooks());
      assert.equal(e.loaded.model.quantize, quantize);
      return { ids: r.ids, logits: e.lastLogits! };
    } finally {
      await e.dispose();
    }
  };
  const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  const f32 = await logits();
  const int8 = await logits('int8');
  const int4 = await logits('int4');
  assert.deepEqual(int8.ids, f32.ids, 'int8 picks the same token');
  const d8 = maxDiff(int8.logits, f32.logits);
  const d4 = maxDiff(int4.logits, f32.logits);
  assert.ok(d8 > 0, 'int8 really changed the weights');
  assert.ok(d8 < 0.5 && d8 < d4, `int8 max logit diff ${d8}, int4 ${d4}`);
});

test('one load quantizes each weight once: a second graph build (a provider fallback) reuses the weight file and writes nothing', (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const w = openModel(STORIES);
  const file = WeightFile.create(mkdtempSync(join(tmpdir(), 'think-weights-')));
  try {
    const first = buildModelGraph(w, { weightBits: 8, gpu: true, compressed: true, weightFile: file });
    assert.equal(first.externalFolder, file.folder, 'the graph reads its initializers from the weight file');
    // Stacks: q+k+v, o, gate+up, down per layer, and the LM head; three initializers each.
    for (let l = 0; l < w.config.layers; l++) assert.ok(file.has(`model.layers.${l}.self_attn.q_proj.weight+model.layers.${l}.self_attn.k_proj.weight+model.layers.${l}.self_attn.v_proj.weight.q`));
    const written = file.bytes;
    const second = buildModelGraph(w, { weightBits: 8, weightFile: file });
    assert.equal(file.bytes, written, 'nothing quantized or written again');
    assert.equal(second.externalFolder, file.folder);
  } finally {
    file.dispose();
  }
  assert.ok(!existsSync(file.folder), 'dispose removes the folder');
});

test('a matrix quantized a slab of rows at a time equals it quantized whole', (t) => {
  if (skipWithoutModel(t, STORIES)) return;
  const w = openModel(STORIES);
  const ref = w.lmHead; // [512, 64]: one slab; a fake larger row count makes several
  const whole = quantizeBlockwise(readTensor(ref), ref.shape[0], ref.shape[1], 4);
  assert.deepEqual(quantizeTensor(ref, 4), whole);
  // Rows [0, 300) of the same bytes, in slabs of 7 rows: the slab size follows K.
  const rows = 300;
  const sub = { ...ref, shape: [rows, ref.shape[1]], byteLength: (ref.byteLength / ref.shape[0]) * rows };
  const slabbed = quantizeTensor(sub, 8, 7 * ref.shape[1]);
  assert.deepEqual(slabbed, quantizeBlockwise(readTensor(sub), rows, ref.shape[1], 8));
});
