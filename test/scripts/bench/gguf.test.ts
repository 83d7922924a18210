// Our GGUF writer: the rotary row permutation on a hand-worked case, Q8_0 / Q4_0 blocks decoded
// back as ggml reads them, the file's structure (magic, version, counts, metadata, tensor
// table) read back byte by byte, Qwen3's tensors, and the per-tensor types of the K-quant files.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { QK, convertToGguf, permuteRotaryRows, quantizeQ4_0, quantizeQ8_0, readVocab, tensorType, useMoreBits } from '../../../scripts/bench/gguf';
import { makeRandomModel } from '../../../runtime/model/makeRandom';
import { halfToFloat } from '../../../runtime/model/safetensors';
import { openModel, readTensor } from '../../../runtime/model/weights';
import { tinyConfig, writeTinyModel } from '../../support/tinyModels';

test('permuteRotaryRows moves rotate-half rows to adjacent pairs, per head', () => {
  // 2 heads of D = 4, one column: head rows [a0 a1 b0 b1] -> [a0 b0 a1 b1].
  const w = Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]);
  assert.deepEqual(Array.from(permuteRotaryRows(w, 2, 1)), [0, 2, 1, 3, 10, 12, 11, 13]);
  // Two columns: whole rows move.
  const w2 = Float32Array.from([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]);
  assert.deepEqual(Array.from(permuteRotaryRows(w2, 1, 2)), [0, 0.5, 2, 2.5, 1, 1.5, 3, 3.5]);
  assert.throws(() => permuteRotaryRows(new Float32Array(6), 2, 1), /do not split into 2 heads of an even size/);
});

test('readVocab pads to the vocab size and rejects ids beyond it', () => {
  const v = readVocab(null, 300);
  assert.equal(v.tokens.length, 300);
  assert.equal(v.tokens[32], 'Ġ'); // the byte-level stand-in for a space
  assert.equal(v.tokens[299], '[PAD299]');
  assert.equal(v.types[299], 5);
  assert.throws(() => readVocab(null, 100), /below the 256 byte tokens/);
});

/** Minimal GGUF reader over what the writer produces (strings, u32/i32/f32/bool, arrays). */
function readGguf(buf: Buffer) {
  let p = 0;
  const u32 = () => ((p += 4), buf.readUInt32LE(p - 4));
  const u64 = () => ((p += 8), Number(buf.readBigUInt64LE(p - 8)));
  const str = () => {
    const n = u64();
    p += n;
    return buf.toString('utf8', p - n, p);
  };
  const value = (t: number): unknown => {
    switch (t) {
      case 4: return u32();
      case 5: return ((p += 4), buf.readInt32LE(p - 4));
      case 6: return ((p += 4), buf.readFloatLE(p - 4));
      case 7: return buf[p++] === 1;
      case 8: return str();
      case 9: {
        const et = u32();
        const n = u64();
        return Array.from({ length: n }, () => value(et));
      }
      default: throw new Error(`unexpected type ${t}`);
    }
  };
  const magic = buf.toString('latin1', 0, 4);
  p = 4;
  const version = u32();
  const nTensors = u64();
  const nMeta = u64();
  const meta = new Map<string, unknown>();
  for (let i = 0; i < nMeta; i++) {
    const k = str();
    meta.set(k, value(u32()));
  }
  const tensors = Array.from({ length: nTensors }, () => {
    const name = str();
    const dims = Array.from({ length: u32() }, () => u64());
    return { name, dims, type: u32(), offset: u64() };
  });
  return { magic, version, meta, tensors, dataStart: Math.ceil(p / 32) * 32 };
}

test('convertToGguf writes a GGUF v3 file llama.cpp can map: keys, tensor table, aligned data', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gguf-test-'));
  try {
    await writeTinyModel(join(dir, 'm'), 'qwen2');
    for (const ft of ['F32', 'F16'] as const) {
      const path = join(dir, `m-${ft}.gguf`);
      convertToGguf(join(dir, 'm'), path, { fileType: ft });
      const buf = readFileSync(path);
      const g = readGguf(buf);
      assert.equal(g.magic, 'GGUF');
      assert.equal(g.version, 3);
      assert.equal(g.meta.get('general.architecture'), 'qwen2');
      assert.equal(g.meta.get('general.file_type'), ft === 'F32' ? 0 : 1);
      assert.equal(g.meta.get('qwen2.block_count'), 2);
      assert.equal(g.meta.get('qwen2.embedding_length'), 64);
      assert.equal(g.meta.get('qwen2.attention.head_count_kv'), 2);
      assert.equal(g.meta.get('tokenizer.ggml.model'), 'gpt2');
      assert.equal((g.meta.get('tokenizer.ggml.tokens') as string[]).length, 256);
      const names = g.tensors.map((t) => t.name);
      assert.ok(names.includes('blk.1.attn_q.bias') && names.includes('blk.0.ffn_down.weight'));
      assert.ok(!names.includes('output.weight'), 'tied head: llama.cpp reuses token_embd');
      const q = g.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
      assert.deepEqual(q.dims, [64, 64]);
      assert.equal(q.type, ft === 'F32' ? 0 : 1);
      assert.equal(g.tensors.find((t) => t.name === 'blk.0.attn_norm.weight')!.type, 0, 'norms stay F32');
      for (const t of g.tensors) assert.equal(t.offset % 32, 0);
      const last = g.tensors[g.tensors.length - 1];
      const elem = last.type === 0 ? 4 : 2;
      assert.equal(buf.length, g.dataStart + last.offset + last.dims.reduce((a, b) => a * b, 1) * elem);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** ggml's dequantization of Q8_0 (d, 32 x int8) and Q4_0 (d, 16 bytes: value j low nibble, j + 16 high, minus 8). */
function dequantize(bytes: Uint8Array, type: 'Q8_0' | 'Q4_0', n: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const block = type === 'Q8_0' ? 34 : 18;
  const out = new Float32Array(n);
  for (let b = 0; b < n / QK; b++) {
    const at = b * block;
    const d = halfToFloat(view.getUint16(at, true));
    for (let j = 0; j < QK; j++)
      out[b * QK + j] = type === 'Q8_0' ? d * view.getInt8(at + 2 + j) : d * (((bytes[at + 2 + (j % 16)] >> (j < 16 ? 0 : 4)) & 15) - 8);
  }
  return out;
}

test('Q8_0 and Q4_0 blocks decode back within half a quantization step, in ggml\'s byte layout', () => {
  const n = 4 * QK;
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) * (1 + (i % 5)) * (i < QK ? 0 : 1)); // first block all zeros
  for (const [type, quantize, levels] of [['Q8_0', quantizeQ8_0, 127], ['Q4_0', quantizeQ4_0, 8]] as const) {
    const bytes = quantize(x);
    assert.equal(bytes.length, (n / QK) * (type === 'Q8_0' ? 34 : 18));
    const back = dequantize(bytes, type, n);
    for (let b = 0; b < n / QK; b++) {
      const block = x.subarray(b * QK, (b + 1) * QK);
      const amax = Math.max(...Array.from(block, Math.abs));
      const step = amax / levels;
      // Q4_0's d = extreme / -8 maps the extreme to code 0; the other sign only reaches code 15,
      // i.e. 7 d: values beyond 7.5 d clamp there (ggml's behaviour), the rest round to nearest.
      const extreme = block.reduce((m, v) => (Math.abs(v) > Math.abs(m) ? v : m), 0);
      const d = extreme / -8;
      for (let j = 0; j < QK; j++) {
        const i = b * QK + j;
        const clamped = type === 'Q4_0' && x[i] / d > 7.5;
        const target = clamped ? 7 * d : x[i];
        // float16 rounding of d adds up to 2^-11 relative per code step.
        assert.ok(Math.abs(back[i] - target) <= (clamped ? 0 : step / 2) + amax * 2 ** -9, `${type} value ${i}: ${back[i]} vs ${x[i]} (step ${step})`);
      }
    }
    assert.ok(back.subarray(0, QK).every((v) => v === 0), 'an all-zero block decodes to zeros (Q4_0: -0, as ggml, since d = -0 / 8)');
  }
});

test('Q8_0 and Q4_0 golden blocks, bytes worked out by hand from ggml\'s block_q8_0 / block_q4_0 layout', () => {
  // Q8_0 {half d; int8 qs[32]}: amax 127 -> d = 1 (0x3C00); roundf(-63.5) = -64 (0xC0), roundf(0.5) = 1.
  const q8 = new Float32Array(QK);
  q8.set([127, -63.5, 0.5]);
  assert.deepEqual(Array.from(quantizeQ8_0(q8)), [0x00, 0x3c, 0x7f, 0xc0, 0x01, ...new Array(QK - 3).fill(0)]);
  // Q4_0 {half d; uint8 qs[16]}: the extreme -8 gives d = -8 / -8 = 1; code = min(15, trunc(x + 8.5)):
  // x0 = -8 -> 0, x1 = -1 -> 7, zeros -> 8, x16 = 7 -> 15, x17 = 3 -> 11; qs[j] = code(x_j) | code(x_j+16) << 4.
  const q4 = new Float32Array(QK);
  q4.set([-8, -1]);
  q4.set([7, 3], 16);
  assert.deepEqual(Array.from(quantizeQ4_0(q4)), [0x00, 0x3c, 0xf0, 0xb7, ...new Array(QK / 2 - 2).fill(0x88)]);
});

test('convertToGguf in Q8_0 and Q4_0: matrices quantized in blocks of 32, norms F32, file types 7 and 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gguf-q-test-'));
  try {
    await writeTinyModel(join(dir, 'm'), 'llama');
    for (const [ft, type, fileType, block] of [['Q8_0', 8, 7, 34], ['Q4_0', 2, 2, 18]] as const) {
      const path = join(dir, `m-${ft}.gguf`);
      convertToGguf(join(dir, 'm'), path, { fileType: ft });
      const buf = readFileSync(path);
      const g = readGguf(buf);
      assert.equal(g.meta.get('general.file_type'), fileType);
      const q = g.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
      assert.equal(q.type, type);
      assert.equal(g.tensors.find((t) => t.name === 'blk.0.attn_norm.weight')!.type, 0, 'norms stay F32');
      for (const t of g.tensors) assert.equal(t.offset % 32, 0);
      const last = g.tensors[g.tensors.length - 1];
      const n = last.dims.reduce((a, b) => a * b, 1);
      const bytes = last.type === 0 ? n * 4 : (n / QK) * block;
      assert.equal(buf.length, g.dataStart + last.offset + bytes);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('qwen3: architecture "qwen3", key_length from head_dim, q/k norms as F32 tensors, q/k rows unpermuted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gguf-qwen3-test-'));
  try {
    await writeTinyModel(join(dir, 'm'), 'qwen3', { dtype: 'F16' });
    const path = join(dir, 'm.gguf');
    convertToGguf(join(dir, 'm'), path, { fileType: 'F16' });
    const buf = readFileSync(path);
    const g = readGguf(buf);
    assert.equal(g.meta.get('general.architecture'), 'qwen3');
    assert.equal(g.meta.get('qwen3.attention.key_length'), 24);
    assert.equal(g.meta.get('qwen3.embedding_length'), 64);
    const t = (name: string) => g.tensors.find((x) => x.name === name)!;
    for (const norm of ['blk.0.attn_q_norm.weight', 'blk.1.attn_k_norm.weight']) {
      assert.deepEqual(t(norm).dims, [24]);
      assert.equal(t(norm).type, 0, 'F32');
    }
    assert.ok(!g.tensors.some((x) => x.name.endsWith('.bias')), 'no attention biases');
    // Rows as HF stores them (qwen3 rotates halves, as HF does): q_proj's first row, as F16.
    const q = t('blk.0.attn_q.weight');
    assert.deepEqual(q.dims, [64, 96]);
    const hf = readTensor(openModel(join(dir, 'm')).layers[0].q);
    const at = g.dataStart + q.offset;
    for (let i = 0; i < 64; i++) assert.equal(halfToFloat(buf.readUInt16LE(at + 2 * i)), hf[i]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('useMoreBits picks the layers llama.cpp gives more bits in its _M mixes', () => {
  const picked = (n: number) => Array.from({ length: n }, (_, i) => i).filter((i) => useMoreBits(i, n));
  assert.deepEqual(picked(2), [1]);
  assert.deepEqual(picked(8), [0, 3, 6, 7]);
  assert.deepEqual(picked(32), [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
});

test('tensorType: K-quant rows of 256, Q8_0 / F16 fallbacks, and the Q4_K_M mix', () => {
  assert.equal(tensorType('Q4_K', 'blk.0.attn_q.weight', [256, 512], 2, false), 'Q4_K');
  assert.equal(tensorType('Q6_K', 'blk.0.attn_norm.weight', [512], 2, false), 'F32');
  assert.equal(tensorType('Q5_K', 'blk.0.attn_q.weight', [256, 96], 2, false), 'Q8_0', 'rows of 96: blocks of 32, not 256');
  assert.equal(tensorType('Q4_K', 'blk.0.attn_q.weight', [256, 40], 2, false), 'F16', 'rows of 40: no blocks at all');
  assert.equal(tensorType('Q8_0', 'blk.0.attn_q.weight', [256, 40], 2, false), 'F16');
  assert.equal(tensorType('F16', 'blk.0.attn_q.weight', [256, 40], 2, false), 'F16');
  // Q4_K_M over 8 layers: attn_v / ffn_down Q6_K where useMoreBits (0, 3, 6, 7), the head Q6_K.
  const mix = (name: string, tied = false) => tensorType('Q4_K_M', name, [512, 512], 8, tied);
  assert.equal(mix('blk.0.attn_v.weight'), 'Q6_K');
  assert.equal(mix('blk.1.attn_v.weight'), 'Q4_K');
  assert.equal(mix('blk.3.ffn_down.weight'), 'Q6_K');
  assert.equal(mix('blk.4.ffn_down.weight'), 'Q4_K');
  assert.equal(mix('blk.0.attn_q.weight'), 'Q4_K');
  assert.equal(mix('blk.7.ffn_up.weight'), 'Q4_K');
  assert.equal(mix('output.weight'), 'Q6_K');
  assert.equal(mix('token_embd.weight'), 'Q4_K');
  assert.equal(mix('token_embd.weight', true), 'Q6_K', 'a tied embedding is the head');
});

test('convertToGguf in K-quant types: file types 14 / 16 / 18 / 15, block bytes 144 / 176 / 210', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gguf-k-test-'));
  try {
    // Rows of 256 and 512 split into super-blocks; the attention rows (head_dim 64) do too.
    const config = { ...tinyConfig('llama'), hidden_size: 256, intermediate_size: 512, head_dim: 64 };
    await makeRandomModel({ config, outDir: join(dir, 'm'), dtype: 'F32', seed: 1, std: 0.05 });
    const bytes: Record<number, number> = { 0: 4, 12: 144 / 256, 13: 176 / 256, 14: 210 / 256 };
    for (const [ft, fileType, type] of [['Q4_K', 14, 12], ['Q5_K', 16, 13], ['Q6_K', 18, 14], ['Q4_K_M', 15, 12]] as const) {
      const path = join(dir, `m-${ft}.gguf`);
      convertToGguf(join(dir, 'm'), path, { fileType: ft });
      const buf = readFileSync(path);
      const g = readGguf(buf);
      assert.equal(g.meta.get('general.file_type'), fileType);
      const typeOf = (name: string) => g.tensors.find((t) => t.name === name)!.type;
      assert.equal(typeOf('blk.0.attn_q.weight'), type);
      assert.equal(typeOf('blk.0.attn_norm.weight'), 0);
      if (ft === 'Q4_K_M') {
        // Two layers: useMoreBits picks layer 1 only.
        assert.equal(typeOf('blk.0.attn_v.weight'), 12);
        assert.equal(typeOf('blk.1.attn_v.weight'), 14);
        assert.equal(typeOf('blk.1.ffn_down.weight'), 14);
        assert.equal(typeOf('output.weight'), 14);
      }
      for (const t of g.tensors) assert.equal(t.offset % 32, 0);
      const last = g.tensors[g.tensors.length - 1];
      assert.equal(buf.length, g.dataStart + last.offset + last.dims.reduce((a, b) => a * b, 1) * bytes[last.type]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
