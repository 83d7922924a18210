import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../runtime/model/config';
import { ropeAttentionFactor, ropeInvFreq, ropeTables } from '../../../runtime/graph/rope';

const base = {
  architectures: ['LlamaForCausalLM'],
  hidden_size: 4096,
  intermediate_size: 14336,
  num_hidden_layers: 1,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  vocab_size: 1000,
  max_position_embeddings: 131072,
  rope_theta: 500000.0,
};
const scaling = { rope_type: 'llama3', factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192 };

// Expected values computed independently (Python, float64) from transformers' llama3 rule.
test('llama3 scaling: high frequencies kept, the middle band interpolated, low frequencies / factor', () => {
  const plain = ropeInvFreq(parseConfig(base, 'c'));
  const scaled = ropeInvFreq(parseConfig({ ...base, rope_scaling: scaling }, 'c'));
  assert.equal(plain.length, 64);
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-15 * Math.max(1, Math.abs(b)) + 1e-18, `${a} vs ${b}`);
  close(plain[1], 0.8146172338565447);
  close(plain[31], 0.0017360467021768655);
  close(scaled[0], 1);
  close(scaled[28], 0.0032114459947525913); // wavelength 1956 < 2048: unchanged
  close(scaled[29], 0.002166570763503359); // middle band
  close(scaled[31], 0.0008567514129196321);
  close(scaled[34], 0.00017850781276799638);
  close(scaled[36], 0.000622772421914596 / 8); // wavelength 10089 > 8192: divided
  close(scaled[63], 3.068925988914511e-7);
});

// Qwen3-8B's rotary shape with the YaRN setting Qwen documents for 128k (factor 4 over 32,768).
// Expected values computed independently (Python, float64) from transformers 5's YaRN rule: the ramp
// runs from dimension floor(23.2) = 23 to ceil(39.6) = 40.
test('yarn scaling: fast dimensions kept, slow ones / factor, a linear ramp between; cos and sin scaled by 0.1 ln(factor) + 1', () => {
  const qwen3 = { architectures: ['Qwen3ForCausalLM'], hidden_size: 4096, intermediate_size: 12288, num_hidden_layers: 1, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 128, vocab_size: 1000, max_position_embeddings: 40960, rope_theta: 1000000 };
  const cfg = parseConfig({ ...qwen3, rope_scaling: { rope_type: 'yarn', factor: 4.0, original_max_position_embeddings: 32768 } }, 'c');
  assert.deepEqual(cfg.ropeScaling, { type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 32768, attentionFactor: 0.1 * Math.log(4) + 1, betaFast: 32, betaSlow: 1, truncate: true });
  const plain = ropeInvFreq(parseConfig(qwen3, 'c'));
  const inv = ropeInvFreq(cfg);
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-14 * Math.abs(b), `${a} vs ${b}`);
  for (const i of [0, 1, 10, 20, 23]) assert.equal(inv[i], plain[i], `dimension ${i} is kept`);
  close(inv[1], 0.8058421877614819);
  close(inv[35], 0.0002462584069089387);
  close(inv[36], 0.00017984115587395423);
  for (const i of [40, 50, 63]) close(inv[i], plain[i] / 4);
  close(inv[63], 3.102344401879299e-7);
  close(ropeAttentionFactor(cfg), 1.138629436111989);
  const { cos, sin } = ropeTables(cfg, [0, 5]);
  assert.equal(cos[0], Math.fround(1.138629436111989), 'position 0: cos is the attention factor');
  assert.equal(sin[128 + 3], Math.fround(Math.sin(5 * inv[3]) * 1.138629436111989));
  assert.equal(ropeAttentionFactor(parseConfig(qwen3, 'c')), 1);
});

test('yarn scaling: explicit attention_factor, mscale ratio, and the factor implied by the context when absent', () => {
  const cfg = (rope: Record<string, unknown>) => parseConfig({ ...base, rope_scaling: { rope_type: 'yarn', ...rope } }, 'c');
  assert.equal(ropeAttentionFactor(cfg({ factor: 8, attention_factor: 0.9 })), 0.9);
  const m = (s: number, k: number) => 0.1 * k * Math.log(s) + 1;
  assert.equal(ropeAttentionFactor(cfg({ factor: 40, mscale: 1, mscale_all_dim: 0.707 })), m(40, 1) / m(40, 0.707));
  const implied = cfg({ original_max_position_embeddings: 32768 }).ropeScaling;
  assert.equal(implied?.type === 'yarn' && implied.factor, 131072 / 32768);
  assert.throws(() => cfg({ factor: 4, beta_fast: 1, beta_slow: 32 }), /beta_fast/);
  assert.throws(() => cfg({ factor: -1 }), /"factor" must be a positive number/);
  assert.throws(() => parseConfig({ ...base, rope_scaling: { rope_type: 'longrope', factor: 4 } }, 'c'), /unsupported rope_scaling type "longrope" \(supported: llama3, yarn, or none\)/);
});

test('tables: rotate-half layout, both halves share a frequency, position 0 is the identity', () => {
  const cfg = parseConfig({ ...base, hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, rope_theta: 10000 }, 'c');
  const D = cfg.headDim;
  assert.equal(D, 16);
  const inv = ropeInvFreq(cfg);
  const positions = [0, 1, 7, 300];
  const { cos, sin } = ropeTables(cfg, positions);
  assert.equal(cos.length, positions.length * D);
  for (let s = 0; s < positions.length; s++) {
    for (let i = 0; i < D / 2; i++) {
      const a = positions[s] * inv[i];
      assert.equal(cos[s * D + i], Math.fround(Math.cos(a)));
      assert.equal(cos[s * D + i + D / 2], Math.fround(Math.cos(a)));
      assert.equal(sin[s * D + i], Math.fround(Math.sin(a)));
      assert.equal(sin[s * D + i + D / 2], Math.fround(Math.sin(a)));
    }
  }
  for (let i = 0; i < D; i++) {
    assert.equal(cos[i], 1);
    assert.equal(sin[i], 0);
  }
});
