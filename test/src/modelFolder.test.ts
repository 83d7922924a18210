import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkModelFolder, describeProblems } from '../../src/modelFolder';
import { skipWithoutModel } from '../support/models';

function tmp(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tl-model-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A syntactically valid safetensors file with one tensor. */
function safetensors(): Buffer {
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, header, Buffer.alloc(8)]);
}

function goodFolder(dir: string): void {
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'llama' }));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), safetensors());
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model":{}}');
}

test('a complete folder passes', async (t) => {
  const d = tmp(t);
  goodFolder(d);
  const r = await checkModelFolder(d);
  assert.deepEqual(r, { ok: true, dir: d, modelType: 'llama', weightFiles: ['model.safetensors'] });
});

test('the real stories260k folder passes', async (t) => {
  const d = path.resolve(__dirname, '../../../shared/models/stories260k');
  if (skipWithoutModel(t, d, 'model folder')) return;
  const r = await checkModelFolder(d);
  assert.equal(r.ok, true, JSON.stringify(r));
});

test('an empty folder: every missing piece is named', async (t) => {
  const d = tmp(t);
  const r = await checkModelFolder(d);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.problems, [
    "config.json is missing (the model's Hugging Face configuration).",
    'no weights: expected model.safetensors (or model.safetensors.index.json with its shards).',
    'tokenizer.json is missing.',
  ]);
  assert.match(describeProblems(r), new RegExp(`^Not a usable model folder: ${d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\. config\\.json is missing`));
});

test('bad config, unsupported architecture, truncated weights, sentencepiece-only tokenizer', async (t) => {
  const d = tmp(t);
  fs.writeFileSync(path.join(d, 'config.json'), '{ not json');
  fs.writeFileSync(path.join(d, 'model.safetensors'), Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 123]));
  fs.writeFileSync(path.join(d, 'tokenizer.model'), 'sp');
  let r = await checkModelFolder(d);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.match(r.problems[0], /^config\.json is not valid JSON/);
  assert.match(r.problems[1], /^model\.safetensors has a header length of 200 bytes for a 9-byte file: not a valid safetensors file/);
  assert.match(r.problems[2], /tokenizer\.json is missing: found only tokenizer\.model \(SentencePiece\)/);

  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ model_type: 'gpt2' }));
  r = await checkModelFolder(d);
  assert.ok(!r.ok && r.problems[0] === 'config.json: model_type "gpt2" is not supported (supported: llama, mistral, qwen2).');
});

test('non-safetensors weights are named; sharded index with a missing shard', async (t) => {
  const d = tmp(t);
  goodFolder(d);
  fs.rmSync(path.join(d, 'model.safetensors'));
  fs.writeFileSync(path.join(d, 'pytorch_model.bin'), 'x');
  let r = await checkModelFolder(d);
  assert.ok(!r.ok && r.problems[0] === 'no safetensors weights: found pytorch_model.bin, but ThinK Lens reads Hugging Face *.safetensors only.');

  fs.writeFileSync(path.join(d, 'model-00001-of-00002.safetensors'), safetensors());
  fs.writeFileSync(
    path.join(d, 'model.safetensors.index.json'),
    JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }),
  );
  r = await checkModelFolder(d);
  assert.ok(!r.ok);
  if (r.ok) return;
  assert.deepEqual(r.problems, ['model.safetensors.index.json names shard that is missing: model-00002-of-00002.safetensors.']);
  fs.writeFileSync(path.join(d, 'model-00002-of-00002.safetensors'), safetensors());
  r = await checkModelFolder(d);
  assert.ok(r.ok && r.weightFiles.length === 2);
});

test('a file or a missing path instead of a folder', async (t) => {
  const d = tmp(t);
  const f = path.join(d, 'config.json');
  fs.writeFileSync(f, '{}');
  assert.deepEqual(await checkModelFolder(f), { ok: false, dir: f, problems: [`${f} is a file; select the folder that contains config.json.`] });
  const missing = path.join(d, 'nope');
  assert.deepEqual(await checkModelFolder(missing), { ok: false, dir: missing, problems: [`${missing} does not exist.`] });
});
