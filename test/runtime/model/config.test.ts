import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { loadConfig, parseConfig } from '../../../runtime/model/config';
import { ModelError } from '../../../runtime/model/errors';
import { skipWithoutModel } from '../../support/models';

const repoRoot = resolve(__dirname, '../../..');
const shapesDir = resolve(repoRoot, '../shared/models/shapes');

const llama31 = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 4096,
  intermediate_size: 14336,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  vocab_size: 128256,
  max_position_embeddings: 131072,
  rope_theta: 500000.0,
  rms_norm_eps: 1e-5,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  rope_scaling: { rope_type: 'llama3', factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192 },
};

const qwen = {
  architectures: ['Qwen2ForCausalLM'],
  model_type: 'qwen2',
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  vocab_size: 151936,
  max_position_embeddings: 32768,
  rope_theta: 1000000.0,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: true,
  use_sliding_window: false,
  sliding_window: 4096,
  eos_token_id: 151645,
};

function faultOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ModelError, `expected a ModelError, got ${e}`);
    assert.equal(e.message, `${e.file}: ${e.fault}`);
    assert.ok(!e.message.includes('\n'), 'one line');
    return e.fault;
  }
  assert.fail('expected a ModelError');
}

test('Llama 3.1: GQA, derived head_dim, llama3 rope scaling, several EOS ids', () => {
  const c = parseConfig(llama31, 'config.json');
  assert.equal(c.architecture, 'LlamaForCausalLM');
  assert.equal(c.headDim, 128);
  assert.equal(c.kvHeads, 8);
  assert.equal(c.contextLength, 131072);
  assert.deepEqual(c.ropeScaling, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  assert.deepEqual(c.eosTokenIds, [128001, 128008, 128009]);
  assert.equal(c.bosTokenId, 128000);
  assert.equal(c.attentionBias, false);
  assert.equal(c.tieWordEmbeddings, false, 'Llama configs default to untied');
  assert.equal(c.rmsNormEps, 1e-5);
});

test('Qwen2: q/k/v biases always, tied head, inactive sliding window ignored', () => {
  const c = parseConfig(qwen, 'config.json');
  assert.equal(c.attentionBias, true);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.headDim, 64);
  assert.equal(c.contextLength, 32768);
  assert.deepEqual(c.eosTokenIds, [151645]);
  assert.equal(c.bosTokenId, null);
  // An active window smaller than the context lowers the context to it.
  assert.equal(parseConfig({ ...qwen, use_sliding_window: true }, 'c').contextLength, 4096);
});

test('Mistral: sliding_window null keeps the context, a smaller window lowers it', () => {
  const base = { ...llama31, architectures: ['MistralForCausalLM'], model_type: 'mistral', rope_scaling: null, max_position_embeddings: 32768 };
  assert.equal(parseConfig({ ...base, sliding_window: null }, 'c').contextLength, 32768);
  assert.equal(parseConfig({ ...base, sliding_window: 4096 }, 'c').contextLength, 4096);
  assert.equal(parseConfig({ ...base, sliding_window: 65536 }, 'c').contextLength, 32768);
});

test('explicit head_dim wins over hidden / heads; KV heads default to query heads', () => {
  const c = parseConfig({ ...llama31, head_dim: 96, num_key_value_heads: undefined, rope_scaling: null }, 'c');
  assert.equal(c.headDim, 96);
  assert.equal(c.kvHeads, 32);
  assert.equal(c.ropeScaling, null);
});

test('architecture from model_type when architectures is absent', () => {
  const { architectures: _drop, ...rest } = qwen;
  void _drop;
  assert.equal(parseConfig(rest, 'c').architecture, 'Qwen2ForCausalLM');
});

test('rope_scaling: legacy "type" key and "default" accepted, others rejected', () => {
  const legacy = { ...llama31.rope_scaling, rope_type: undefined, type: 'llama3' };
  assert.deepEqual(parseConfig({ ...llama31, rope_scaling: legacy }, 'c').ropeScaling, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  assert.equal(parseConfig({ ...llama31, rope_scaling: { rope_type: 'default' } }, 'c').ropeScaling, null);
  assert.match(faultOf(() => parseConfig({ ...llama31, rope_scaling: { rope_type: 'longrope', factor: 4 } }, 'c')), /unsupported rope_scaling type "longrope"/);
  assert.match(faultOf(() => parseConfig({ ...llama31, rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'c')), /low_freq_factor/);
});

test('transformers 5 "rope_parameters" carries theta and scaling', () => {
  const { rope_scaling: _s, rope_theta: _t, ...rest } = llama31;
  void _s;
  void _t;
  const c = parseConfig({ ...rest, rope_parameters: { rope_theta: 500000, ...llama31.rope_scaling } }, 'c');
  assert.equal(c.ropeTheta, 500000);
  assert.equal(c.ropeScaling?.type === 'llama3' && c.ropeScaling.originalMaxPositionEmbeddings, 8192);
  const plain = parseConfig({ ...rest, rope_parameters: { rope_type: 'default', rope_theta: 1234 } }, 'c');
  assert.equal(plain.ropeTheta, 1234);
  assert.equal(plain.ropeScaling, null);
});

test('invalid configs name the file and the fault', () => {
  assert.match(faultOf(() => parseConfig([], 'x.json')), /JSON object/);
  assert.match(faultOf(() => parseConfig({ ...llama31, architectures: ['GPT2LMHeadModel'] }, 'x.json')), /unsupported architecture "GPT2LMHeadModel"/);
  assert.match(faultOf(() => parseConfig({ ...llama31, num_key_value_heads: 5 }, 'x.json')), /not a multiple of num_key_value_heads \(5\)/);
  assert.match(faultOf(() => parseConfig({ ...llama31, head_dim: 7 }, 'x.json')), /head_dim 7 is odd/);
  assert.match(faultOf(() => parseConfig({ ...llama31, hidden_size: -1 }, 'x.json')), /"hidden_size" must be a positive integer/);
  assert.match(faultOf(() => parseConfig({ ...llama31, vocab_size: undefined }, 'x.json')), /missing "vocab_size"/);
  assert.match(faultOf(() => parseConfig({ ...llama31, hidden_act: 'gelu' }, 'x.json')), /unsupported hidden_act "gelu"/);
  assert.match(faultOf(() => parseConfig({ ...llama31, attention_bias: true }, 'x.json')), /o_proj bias/);
  assert.match(faultOf(() => parseConfig({ ...llama31, mlp_bias: true }, 'x.json')), /mlp_bias/);
  assert.match(faultOf(() => parseConfig({ ...llama31, eos_token_id: 200000 }, 'x.json')), /outside the vocabulary/);
  assert.match(faultOf(() => parseConfig({ ...llama31, eos_token_id: 'eos' }, 'x.json')), /"eos_token_id" must be a token id/);
  const e = (() => {
    try {
      parseConfig({ ...llama31, hidden_size: 0 }, '/models/x/config.json');
    } catch (err) {
      return err as ModelError;
    }
  })();
  assert.equal(e?.message, '/models/x/config.json: "hidden_size" must be a positive integer, got 0');
});

test('loadConfig reads <dir>/config.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(qwen));
  assert.equal(loadConfig(dir).hiddenSize, 896);
});

test('the real configs under shared/models/shapes all parse', (t) => {
  if (skipWithoutModel(t, shapesDir, 'shapes')) return;
  const files = readdirSync(shapesDir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length > 0);
  for (const f of files) {
    const dir = mkdtempSync(join(tmpdir(), 'shape-'));
    writeFileSync(join(dir, 'config.json'), readFileSync(join(shapesDir, f), 'utf8'));
    const c = loadConfig(dir);
    assert.ok(c.headDim * c.queryHeads > 0, f);
  }
});

test('Qwen3: per-head q/k norms, head_dim defaults to 128 (not hidden / heads), attention_bias refused', () => {
  const qwen3 = {
    architectures: ['Qwen3ForCausalLM'],
    model_type: 'qwen3',
    hidden_size: 1024,
    intermediate_size: 3072,
    num_hidden_layers: 28,
    num_attention_heads: 16,
    num_key_value_heads: 8,
    head_dim: 128,
    vocab_size: 151936,
    max_position_embeddings: 40960,
    rope_theta: 1000000,
    attention_bias: false,
    tie_word_embeddings: true,
    use_sliding_window: false,
    sliding_window: null,
  };
  const c = parseConfig(qwen3, 'c');
  assert.equal(c.architecture, 'Qwen3ForCausalLM');
  assert.equal(c.qkNorm, true);
  assert.equal(c.headDim, 128, '16 heads x 128 = 2048: wider than the hidden size');
  assert.equal(c.attentionBias, false);
  const { head_dim: _h, ...noHeadDim } = qwen3;
  void _h;
  assert.equal(parseConfig(noHeadDim, 'c').headDim, 128);
  assert.equal(parseConfig({ ...qwen3, architectures: undefined }, 'c').architecture, 'Qwen3ForCausalLM', 'model_type qwen3');
  assert.match(faultOf(() => parseConfig({ ...qwen3, attention_bias: true }, 'c')), /"attention_bias": true is not supported for Qwen3ForCausalLM/);
  assert.equal(parseConfig({ ...qwen3, use_sliding_window: true, sliding_window: 4096 }, 'c').contextLength, 4096);
  assert.equal(parseConfig({ ...qwen3, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2' }, 'c').qkNorm, false);
});
