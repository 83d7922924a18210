import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { readSafetensorsHeader, writeSafetensors, encodeFloats } from '../../../runtime/model/safetensors';
import { floatToBf16, decodeFloats } from '../../../runtime/model/safetensors';
import { openModel, readTensor, readTensor64, type TensorRef } from '../../../runtime/model/weights';
import { skipWithoutModel } from '../../support/models';
import { writeTinyModel, tinyConfig } from '../../support/tinyModels';

const STORIES = resolve(__dirname, '../../../../shared/models/stories260k');
const tmp = () => mkdtempSync(join(tmpdir(), 'w-'));

test('llama (untied): every layer tensor mapped with HF [out, in] shapes, no biases, parameter count', async () => {
  const dir = tmp();
  await writeTinyModel(dir, 'llama');
  const w = openModel(dir);
  const c = w.config;
  assert.equal(w.dtype, 'F32');
  assert.equal(w.layers.length, 2);
  assert.equal(w.tiedHead, false);
  assert.notEqual(w.lmHead, w.embed);
  assert.equal(w.lmHead.name, 'lm_head.weight');
  const L = w.layers[1];
  assert.equal(L.q.name, 'model.layers.1.self_attn.q_proj.weight');
  assert.deepEqual(L.q.shape, [64, 64]);
  assert.deepEqual(L.k.shape, [32, 64]);
  assert.deepEqual(L.down.shape, [64, 96]);
  assert.equal(L.qBias, undefined);
  assert.equal(L.inputNorm.file, 'model.safetensors');
  assert.equal(L.inputNorm.path, join(dir, 'model.safetensors'));
  const perLayer = 2 * 64 + 64 * 64 * 2 + 32 * 64 * 2 + 3 * 96 * 64;
  assert.equal(w.parameters, 2 * c.vocabSize * 64 + 2 * perLayer + 64);
});

test('qwen2 (tied, biased) and llama-headdim (non-square projections)', async () => {
  const q = tmp();
  await writeTinyModel(q, 'qwen2');
  const wq = openModel(q);
  assert.equal(wq.tiedHead, true);
  assert.equal(wq.lmHead, wq.embed, 'tied head is the embedding object itself');
  assert.deepEqual(wq.layers[0].qBias?.shape, [64]);
  assert.deepEqual(wq.layers[0].kBias?.shape, [32]);
  assert.equal(wq.layers[0].vBias?.name, 'model.layers.0.self_attn.v_proj.bias');
  const h = tmp();
  await writeTinyModel(h, 'llama-headdim');
  const wh = openModel(h);
  assert.equal(wh.config.headDim, 24);
  assert.deepEqual(wh.layers[0].q.shape, [96, 64]);
  assert.deepEqual(wh.layers[0].k.shape, [48, 64]);
  assert.deepEqual(wh.layers[0].o.shape, [64, 96]);
});

test('refs point at the exact bytes: readTensor equals the file contents at offset', async () => {
  const dir = tmp();
  await writeTinyModel(dir, 'mistral');
  const w = openModel(dir);
  const file = readFileSync(join(dir, 'model.safetensors'));
  const h = readSafetensorsHeader(join(dir, 'model.safetensors'));
  const ref = w.layers[1].v;
  const e = h.tensors.get(ref.name)!;
  assert.equal(ref.offset, h.dataStart + e.dataOffsets[0]);
  assert.equal(ref.byteLength, e.dataOffsets[1] - e.dataOffsets[0]);
  const expect = new Float32Array(file.buffer.slice(file.byteOffset + ref.offset, file.byteOffset + ref.offset + ref.byteLength));
  assert.deepEqual(readTensor(ref), expect);
  assert.deepEqual(readTensor64(ref), Float64Array.from(expect));
});

test('F16 and BF16 models hold the F32 model rounded (same seed), decoded exactly', async () => {
  const f32 = tmp();
  const bf16 = tmp();
  const f16 = tmp();
  await writeTinyModel(f32, 'llama-tied', { dtype: 'F32', seed: 9 });
  await writeTinyModel(bf16, 'llama-tied', { dtype: 'BF16', seed: 9 });
  await writeTinyModel(f16, 'llama-tied', { dtype: 'F16', seed: 9 });
  const a = openModel(f32);
  const b = openModel(bf16);
  const c = openModel(f16);
  assert.equal(b.dtype, 'BF16');
  assert.equal(c.dtype, 'F16');
  assert.equal(b.layers[0].gate.byteLength * 2, a.layers[0].gate.byteLength);
  const x = readTensor(a.layers[0].gate);
  const y = readTensor(b.layers[0].gate);
  const z = readTensor(c.layers[0].gate);
  const roundedBf16 = decodeFloats(new Uint8Array(Uint16Array.from(x, floatToBf16).buffer), 'BF16');
  assert.deepEqual(y, roundedBf16);
  assert.deepEqual(z, decodeFloats(encodeFloats(x, 'F16'), 'F16'));
  assert.notDeepEqual(y, x);
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(z[i] - x[i]) <= Math.abs(x[i]) * 2 ** -11 + 2 ** -25);
});

test('sharded model: tensors spread over shards, same values as the single file', async () => {
  const one = tmp();
  const three = tmp();
  await writeTinyModel(one, 'qwen2', { seed: 5 });
  await writeTinyModel(three, 'qwen2', { seed: 5, shards: 3 });
  const a = openModel(one);
  const b = openModel(three);
  const files = new Set<string>();
  const pairs: [TensorRef, TensorRef][] = [[a.embed, b.embed], [a.finalNorm, b.finalNorm]];
  a.layers.forEach((l, i) => {
    for (const k of Object.keys(l) as (keyof typeof l)[]) pairs.push([l[k]!, b.layers[i][k]!]);
  });
  for (const [x, y] of pairs) {
    files.add(y.file);
    assert.deepEqual(readTensor(y), readTensor(x), y.name);
  }
  assert.deepEqual([...files].sort(), ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
  assert.equal(b.parameters, a.parameters);
});

test('tied models that still ship lm_head.weight, and extra tensors, are accepted', async () => {
  const dir = tmp();
  const cfg = tinyConfig('llama-tied');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 1 }));
  const f = (shape: number[]) => ({ dtype: 'F32' as const, shape, data: new Uint8Array(shape.reduce((p, d) => p * d, 1) * 4) });
  const p = 'model.layers.0.';
  writeSafetensors(join(dir, 'model.safetensors'), [
    { name: 'model.embed_tokens.weight', ...f([256, 64]) },
    { name: 'lm_head.weight', ...f([256, 64]) },
    { name: `${p}self_attn.rotary_emb.inv_freq`, ...f([8]) },
    { name: `${p}input_layernorm.weight`, ...f([64]) },
    { name: `${p}post_attention_layernorm.weight`, ...f([64]) },
    { name: `${p}self_attn.q_proj.weight`, ...f([64, 64]) },
    { name: `${p}self_attn.k_proj.weight`, ...f([32, 64]) },
    { name: `${p}self_attn.v_proj.weight`, ...f([32, 64]) },
    { name: `${p}self_attn.o_proj.weight`, ...f([64, 64]) },
    { name: `${p}mlp.gate_proj.weight`, ...f([96, 64]) },
    { name: `${p}mlp.up_proj.weight`, ...f([96, 64]) },
    { name: `${p}mlp.down_proj.weight`, ...f([64, 96]) },
    { name: 'model.norm.weight', ...f([64]) },
  ]);
  const w = openModel(dir);
  assert.equal(w.lmHead, w.embed);
  assert.equal(w.parameters, 256 * 64 + 2 * 64 + 64 * 64 * 2 + 32 * 64 * 2 + 3 * 96 * 64 + 64);
});

test('stories260k: real checkpoint maps and decodes', (t) => {
  if (skipWithoutModel(t, STORIES, 'stories260k')) return;
  const w = openModel(STORIES);
  assert.equal(w.parameters, 260032);
  assert.equal(w.tiedHead, true);
  assert.equal(w.config.headDim, 8);
  const norm = readTensor(w.layers[0].inputNorm);
  assert.equal(norm.length, 64);
  assert.ok(norm.every((v) => Number.isFinite(v)) && norm.some((v) => v !== 0));
});
