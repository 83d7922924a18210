// Our GGUF writer: the rotary row permutation on a hand-worked case, and the file's structure
// (magic, version, counts, metadata, tensor table) read back byte by byte.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { convertToGguf, permuteRotaryRows, readVocab } from '../../../scripts/bench/gguf';
import { writeTinyModel } from '../../support/tinyModels';

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
