import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ModelError } from '../../../runtime/model/errors';
import { makeRandomModel } from '../../../runtime/model/makeRandom';
import { openModel, readTensor } from '../../../runtime/model/weights';
import { tinyConfig } from '../../support/tinyModels';

const tmp = () => mkdtempSync(join(tmpdir(), 'mr-'));

function stats(x: Float32Array): { mean: number; std: number; min: number; max: number } {
  let s = 0;
  let ss = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of x) {
    s += v;
    ss += v * v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = s / x.length;
  return { mean, std: Math.sqrt(ss / x.length - mean * mean), min, max };
}

test('deterministic from the seed; another seed gives other weights', async () => {
  const [a, b, c] = [tmp(), tmp(), tmp()];
  const config = tinyConfig('llama');
  await makeRandomModel({ config, outDir: a, dtype: 'BF16', seed: 7 });
  await makeRandomModel({ config, outDir: b, dtype: 'BF16', seed: 7 });
  await makeRandomModel({ config, outDir: c, dtype: 'BF16', seed: 8 });
  const bytes = (d: string) => readFileSync(join(d, 'model.safetensors'));
  assert.ok(bytes(a).equals(bytes(b)));
  assert.ok(!bytes(a).equals(bytes(c)));
});

test('values: dense tensors zero-mean with the requested std, norms near 1', async () => {
  const dir = tmp();
  await makeRandomModel({ config: { ...tinyConfig('llama'), intermediate_size: 512 }, outDir: dir, dtype: 'F32', seed: 1, std: 0.05 });
  const w = openModel(dir);
  const up = stats(readTensor(w.layers[0].up));
  assert.ok(Math.abs(up.std - 0.05) < 0.05 * 0.03, `std ${up.std}`);
  assert.ok(Math.abs(up.mean) < 0.002, `mean ${up.mean}`);
  const emb = readTensor(w.embed);
  const head = readTensor(w.lmHead);
  assert.notDeepEqual(emb, head, 'untied head has its own values');
  for (const ref of [w.finalNorm, w.layers[1].inputNorm, w.layers[1].postNorm]) {
    const n = stats(readTensor(ref));
    assert.ok(n.min >= 0.9 && n.max <= 1.1 && n.std > 0.01, `${ref.name}: ${JSON.stringify(n)}`);
  }
});

test('config.json written with torch_dtype; shards with an index; old layout removed', async () => {
  const dir = tmp();
  await makeRandomModel({ config: tinyConfig('mistral'), outDir: dir, dtype: 'F16', seed: 3, shards: 2 });
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.equal(cfg.torch_dtype, 'float16');
  assert.equal(cfg.architectures[0], 'MistralForCausalLM');
  const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
  const shards = new Set(Object.values(index.weight_map));
  assert.deepEqual([...shards].sort(), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  const sizes = [...shards].map((f) => readFileSync(join(dir, f as string)).length);
  assert.ok(Math.min(...sizes) > 0.2 * Math.max(...sizes), `shards roughly balanced: ${sizes}`);
  assert.equal(index.metadata.total_size, openModel(dir).parameters * 2);
  // Rewriting as one file must not leave the shards behind.
  await makeRandomModel({ config: tinyConfig('mistral'), outDir: dir, dtype: 'F16', seed: 3 });
  assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors']);
});

test('tokenizer files are copied; a tokenizerDir without tokenizer.json is refused', async () => {
  const tok = tmp();
  writeFileSync(join(tok, 'tokenizer.json'), '{"model":{}}');
  writeFileSync(join(tok, 'tokenizer_config.json'), '{"chat_template":"x"}');
  writeFileSync(join(tok, 'chat_template.jinja'), '{{ messages }}');
  writeFileSync(join(tok, 'unrelated.txt'), 'no');
  chmodSync(join(tok, 'tokenizer.json'), 0o444);
  const out = join(tmp(), 'nested', 'model');
  await makeRandomModel({ config: tinyConfig('llama-tied'), outDir: out, dtype: 'F32', seed: 1, tokenizerDir: tok });
  assert.equal(statSync(join(out, 'tokenizer.json')).mode & 0o200, 0o200, 'copies are writable even when the source is read-only');
  // A second run over the same folder overwrites the copies.
  await makeRandomModel({ config: tinyConfig('llama-tied'), outDir: out, dtype: 'F32', seed: 2, tokenizerDir: tok });
  assert.equal(readFileSync(join(out, 'chat_template.jinja'), 'utf8'), '{{ messages }}');
  assert.ok(existsSync(join(out, 'tokenizer.json')) && existsSync(join(out, 'tokenizer_config.json')));
  assert.ok(!existsSync(join(out, 'unrelated.txt')));
  const empty = tmp();
  mkdirSync(join(empty, 'x'));
  await assert.rejects(makeRandomModel({ config: tinyConfig('llama'), outDir: tmp(), dtype: 'F32', seed: 1, tokenizerDir: empty }), (e: unknown) => e instanceof ModelError && /tokenizer\.json: not found/.test(e.message));
});

test('invalid requests: bad config, too many shards', async () => {
  await assert.rejects(makeRandomModel({ config: { ...tinyConfig('llama'), architectures: ['BertModel'] }, outDir: tmp(), dtype: 'F32', seed: 1 }), /unsupported architecture "BertModel"/);
  await assert.rejects(makeRandomModel({ config: tinyConfig('llama'), outDir: tmp(), dtype: 'F32', seed: 1, shards: 1000 }), /1000 shards for only 21 tensors/);
});
