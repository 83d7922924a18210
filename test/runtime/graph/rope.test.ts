import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../runtime/model/config';
import { ropeInvFreq, ropeTables } from '../../../runtime/graph/rope';

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
