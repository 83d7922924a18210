// Every way a model folder can be broken gives one line: the file at fault, then the fault.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { ContextOverflowError, ModelError } from '../../../runtime/model/errors';
import { readSafetensorsHeader, writeSafetensors } from '../../../runtime/model/safetensors';
import { openModel } from '../../../runtime/model/weights';
import { writeTinyModel } from '../../support/tinyModels';

let single = '';
let sharded = '';

before(async () => {
  single = mkdtempSync(join(tmpdir(), 'bad-single-'));
  sharded = mkdtempSync(join(tmpdir(), 'bad-sharded-'));
  await writeTinyModel(single, 'llama');
  await writeTinyModel(sharded, 'llama', { shards: 2 });
});

/** A fresh copy of a good model folder to break. */
function copyOf(src: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'broken-'));
  cpSync(src, dir, { recursive: true });
  return dir;
}

/** Asserts openModel fails with a one-line ModelError for `file` whose fault matches. */
function expectFault(dir: string, file: string, fault: RegExp): void {
  assert.throws(
    () => openModel(dir),
    (e: unknown) => {
      assert.ok(e instanceof ModelError, `expected a ModelError, got ${e}`);
      assert.equal(e.file, file);
      assert.match(e.fault, fault);
      assert.equal(e.message, `${file}: ${e.fault}`);
      assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
      return true;
    },
  );
}

/** Rewrites model.safetensors with one tensor changed (or dropped, when change returns null). */
function rewrite(dir: string, change: (name: string, t: { dtype: 'F32'; shape: number[]; data: Uint8Array }) => { dtype: 'F32'; shape: number[]; data: Uint8Array } | null): void {
  const path = join(dir, 'model.safetensors');
  const h = readSafetensorsHeader(path);
  const bytes = readFileSync(path);
  const out = [];
  for (const [name, e] of h.tensors) {
    const t = change(name, { dtype: 'F32', shape: e.shape, data: bytes.subarray(h.dataStart + e.dataOffsets[0], h.dataStart + e.dataOffsets[1]) });
    if (t) out.push({ name, ...t });
  }
  writeSafetensors(path, out);
}

/** Rebuilds model.safetensors with its JSON header edited and the data section unchanged. */
function patchHeader(dir: string, edit: (header: Record<string, { dtype: string; shape: number[] }>) => void): void {
  const path = join(dir, 'model.safetensors');
  const raw = readFileSync(path);
  const len = Number(raw.readBigUInt64LE(0));
  const header = JSON.parse(raw.subarray(8, 8 + len).toString('utf8'));
  edit(header);
  const text = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(text.length));
  writeFileSync(path, Buffer.concat([prefix, text, raw.subarray(8 + len)]));
}

test('missing model.safetensors (and no index)', () => {
  const dir = copyOf(single);
  rmSync(join(dir, 'model.safetensors'));
  expectFault(dir, join(dir, 'model.safetensors'), /not found \(and no model\.safetensors\.index\.json either\): the folder has no weights/);
});

test('truncated model.safetensors', () => {
  const dir = copyOf(single);
  const path = join(dir, 'model.safetensors');
  truncateSync(path, statSync(path).size - 100);
  expectFault(dir, path, /^truncated: tensor "[^"]+" ends at data byte \d+ but the file holds only \d+ bytes of data$/);
});

test('truncated inside the header', () => {
  const dir = copyOf(single);
  const path = join(dir, 'model.safetensors');
  truncateSync(path, 50);
  expectFault(dir, path, /^truncated: the header needs \d+ bytes but the file has 50$/);
});

test('corrupt header JSON', () => {
  const dir = copyOf(single);
  const path = join(dir, 'model.safetensors');
  const raw = readFileSync(path);
  raw.write('#', 9, 'utf8');
  writeFileSync(path, raw);
  expectFault(dir, path, /^corrupt header JSON \(.+\)$/);
});

test('missing tensor', () => {
  const dir = copyOf(single);
  rewrite(dir, (name, t) => (name === 'model.layers.1.mlp.up_proj.weight' ? null : t));
  expectFault(dir, join(dir, 'model.safetensors'), /^missing tensor "model\.layers\.1\.mlp\.up_proj\.weight" \(expected shape \[96, 64\] for LlamaForCausalLM\)$/);
});

test('missing lm_head in an untied model', () => {
  const dir = copyOf(single);
  rewrite(dir, (name, t) => (name === 'lm_head.weight' ? null : t));
  expectFault(dir, join(dir, 'model.safetensors'), /^missing tensor "lm_head\.weight"/);
});

test('shape mismatch', () => {
  const dir = copyOf(single);
  rewrite(dir, (name, t) => (name === 'model.layers.0.self_attn.k_proj.weight' ? { ...t, shape: [64, 32] } : t));
  expectFault(dir, join(dir, 'model.safetensors'), /^tensor "model\.layers\.0\.self_attn\.k_proj\.weight" has shape \[64, 32\] but config\.json implies \[32, 64\]$/);
});

test('config disagrees with the weights (wrong num_key_value_heads)', () => {
  const dir = copyOf(single);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, num_key_value_heads: 4 }));
  expectFault(dir, join(dir, 'model.safetensors'), /k_proj\.weight" has shape \[32, 64\] but config\.json implies \[64, 64\]/);
});

test('unsupported architecture', () => {
  const dir = copyOf(single);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, architectures: ['GemmaForCausalLM'], model_type: 'gemma' }));
  expectFault(dir, join(dir, 'config.json'), /^unsupported architecture "GemmaForCausalLM" \(supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM\)$/);
});

test('unsupported dtype (I8, F64)', () => {
  const dir = copyOf(single);
  // The norm's 256 bytes (F32 [64]) read as I8 [256]: a consistent file the loader cannot use.
  patchHeader(dir, (h) => {
    h['model.layers.1.input_layernorm.weight'].dtype = 'I8';
    h['model.layers.1.input_layernorm.weight'].shape = [256];
  });
  expectFault(dir, join(dir, 'model.safetensors'), /^tensor "model\.layers\.1\.input_layernorm\.weight" has unsupported dtype I8 \(supported: F32, F16, BF16\)$/);
  const dir64 = copyOf(single);
  patchHeader(dir64, (h) => {
    h['model.norm.weight'].dtype = 'F64';
    h['model.norm.weight'].shape = [32];
  });
  expectFault(dir64, join(dir64, 'model.safetensors'), /^tensor "model\.norm\.weight" has unsupported dtype F64/);
});

test('missing config.json', () => {
  const dir = copyOf(single);
  rmSync(join(dir, 'config.json'));
  expectFault(dir, join(dir, 'config.json'), /^not found/);
});

test('malformed config.json', () => {
  const dir = copyOf(single);
  writeFileSync(join(dir, 'config.json'), '{"architectures": ["LlamaForCausalLM"],');
  expectFault(dir, join(dir, 'config.json'), /^malformed JSON \(.+\)$/);
});

test('shard index pointing to a missing shard', () => {
  const dir = copyOf(sharded);
  rmSync(join(dir, 'model-00002-of-00002.safetensors'));
  expectFault(dir, join(dir, 'model.safetensors.index.json'), /^shard "model-00002-of-00002\.safetensors" \(listed for tensor "[^"]+"\) not found$/);
});

test('shard index listing a tensor its shard lacks, and a malformed index', () => {
  const dir = copyOf(sharded);
  const indexPath = join(dir, 'model.safetensors.index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8'));
  const shardOfNorm = index.weight_map['model.norm.weight'];
  const other = shardOfNorm === 'model-00001-of-00002.safetensors' ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors';
  index.weight_map['model.norm.weight'] = other;
  writeFileSync(indexPath, JSON.stringify(index));
  expectFault(dir, join(dir, other), /^missing tensor "model\.norm\.weight"/);
  delete index.weight_map['model.norm.weight'];
  writeFileSync(indexPath, JSON.stringify(index));
  expectFault(dir, indexPath, /^missing tensor "model\.norm\.weight"/);
  writeFileSync(indexPath, '{"weight_map": [1, 2]}');
  expectFault(dir, indexPath, /"weight_map" must map tensor names to shard file names/);
});

test('ContextOverflowError says both numbers', () => {
  const e = new ContextOverflowError(5000, 4096);
  assert.equal(e.promptTokens, 5000);
  assert.equal(e.contextLength, 4096);
  assert.match(e.message, /^the prompt has 5000 tokens but the model's context holds 4096/);
});
