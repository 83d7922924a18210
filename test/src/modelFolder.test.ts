import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkGgufFile, checkModelFolder, describeProblems } from '../../src/modelFolder';
import { ggufHeader } from '../support/ggufFiles';
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
  assert.deepEqual(r, { ok: true, dir: d, format: 'folder', modelType: 'llama', weightFiles: ['model.safetensors'] });
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
  assert.ok(!r.ok && r.problems[0] === 'config.json: model_type "gpt2" is not supported (supported: llama, mistral, qwen2, qwen3).');
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
  assert.deepEqual(await checkModelFolder(f), { ok: false, dir: f, format: 'folder', problems: [`${f} is a file; select the folder that contains config.json.`] });
  const missing = path.join(d, 'nope');
  assert.deepEqual(await checkModelFolder(missing), { ok: false, dir: missing, format: 'folder', problems: [`${missing} does not exist.`] });
});

// ---------------------------------------------------------------------------------------------
// GGUF files
// ---------------------------------------------------------------------------------------------

test('a GGUF file passes with its architecture, found after other metadata; an Ollama blob is recognised by its magic', async (t) => {
  const d = tmp(t);
  const f = path.join(d, 'Qwen3-0.6B-Q8_0.gguf');
  fs.writeFileSync(f, ggufHeader({ metadata: [['general.type', 'model'], ['general.sizes', [1, 2, 3]], ['general.architecture', 'qwen3']] }));
  assert.deepEqual(await checkGgufFile(f), { ok: true, dir: f, format: 'gguf', modelType: 'qwen3', weightFiles: ['Qwen3-0.6B-Q8_0.gguf'] });
  assert.deepEqual(await checkModelFolder(f), await checkGgufFile(f));
  const blob = path.join(d, `sha256-${'a'.repeat(64)}`);
  fs.writeFileSync(blob, ggufHeader({ arch: 'llama' }));
  const r = await checkModelFolder(blob);
  assert.ok(r.ok && r.format === 'gguf' && r.modelType === 'llama', JSON.stringify(r));
  const noArch = path.join(d, 'noarch.gguf');
  fs.writeFileSync(noArch, ggufHeader({ metadata: [['general.name', 'x']] }));
  const n = await checkGgufFile(noArch);
  assert.ok(n.ok && n.modelType === 'gguf', 'an architecture the header does not name early is left to the runtime');
});

test('a bad GGUF file: each fault is one sentence naming the file', async (t) => {
  const d = tmp(t);
  const put = (name: string, data: Buffer) => {
    const f = path.join(d, name);
    fs.writeFileSync(f, data);
    return f;
  };
  const problem = async (f: string) => {
    const r = await checkModelFolder(f);
    assert.ok(!r.ok, f);
    if (r.ok) return '';
    assert.equal(r.format, 'gguf');
    assert.equal(r.problems.length, 1);
    return r.problems[0];
  };
  assert.equal(await problem(put('zip.gguf', Buffer.from([0x50, 0x4b, 3, 4, 0, 0]))), 'zip.gguf is not a GGUF file: it starts with "PK\\x03\\x04", not "GGUF".');
  assert.equal(await problem(put('html.gguf', Buffer.from('<!DOCTYPE html>'))), 'html.gguf is not a GGUF file: it starts with "<!DO", not "GGUF".');
  assert.equal(await problem(put('empty.gguf', Buffer.alloc(0))), 'empty.gguf is empty: not a GGUF file (truncated download?).');
  assert.equal(await problem(put('short.gguf', Buffer.from('GGUF\x03\x00'))), 'short.gguf is 6 bytes: too short for a GGUF header (truncated download?).');
  assert.equal(await problem(put('v1.gguf', ggufHeader({ version: 1 }))), 'v1.gguf: GGUF version 1 is not supported (2 and 3 are).');
  assert.equal(
    await problem(put('gemma.gguf', ggufHeader({ arch: 'gemma3' }))),
    'gemma.gguf: general.architecture "gemma3" is not supported (supported: llama, qwen2, qwen3).',
  );
  const missing = path.join(d, 'gone.gguf');
  const r = await checkModelFolder(missing);
  assert.ok(!r.ok);
  if (r.ok) return;
  assert.equal(describeProblems(r), `Not a usable model file: ${missing}. ${missing} does not exist.`);
});
