// Every way a GGUF file can be broken gives one line, `<file>: <fault>` (a ModelError, no stack),
// from openGguf and the same line from Engine.load, and over JSON-RPC as ModelInvalid. The broken
// files are a valid GGUF from our writer with a few bytes patched.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as rpc from 'vscode-jsonrpc/node';
import { Rpc, RpcErrors } from '../../../core/protocol/rpc';
import { Engine } from '../../../runtime/engine/engine';
import { ModelError } from '../../../runtime/model/errors';
import { openGguf } from '../../../runtime/model/gguf/model';
import { readTensor } from '../../../runtime/model/weights';
import { convertToGguf } from '../../../scripts/bench/gguf';
import { quietLog } from '../../support/models';
import { writeTinyModel } from '../../support/tinyModels';

const root = mkdtempSync(join(tmpdir(), 'gguf-errors-'));
after(() => rmSync(root, { recursive: true, force: true }));
let good: Buffer;

before(async () => {
  // Untied llama: it has output.weight, the last tensor written.
  await writeTinyModel(join(root, 'm'), 'llama');
  convertToGguf(join(root, 'm'), join(root, 'good.gguf'), { fileType: 'F32' });
  good = readFileSync(join(root, 'good.gguf'));
});

/** Where the bytes of GGUF string `s` start: it is stored as a u64 length, then the bytes. */
function stringAt(buf: Buffer, s: string): number {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(s)));
  const at = buf.indexOf(Buffer.concat([len, Buffer.from(s)]));
  assert.ok(at >= 0, `"${s}" is in the file`);
  return at + 8;
}

/** Overwrites string `s` in place with `to` (same byte length). */
function renameString(buf: Buffer, s: string, to: string): void {
  assert.equal(Buffer.byteLength(to), Buffer.byteLength(s));
  buf.write(to, stringAt(buf, s));
}

/** A tensor info: name, u32 rank, u64 dims, u32 ggml type, u64 offset. Returns where the dims and the type are. */
function tensorInfo(buf: Buffer, name: string): { dims: number; type: number } {
  const end = stringAt(buf, name) + Buffer.byteLength(name);
  const rank = buf.readUInt32LE(end);
  return { dims: end + 4, type: end + 4 + 8 * rank };
}

/**
 * Inserts a string metadata entry after the 24-byte header, padded with a second entry so the
 * insertion is a multiple of the 32-byte alignment: the data section then moves by exactly that
 * much and every tensor offset (relative to it) stays right.
 */
function withStringMetadata(buf: Buffer, key: string, value: string): Buffer {
  const entry = (k: string, v: string) => {
    const kb = Buffer.from(k);
    const vb = Buffer.from(v);
    const b = Buffer.alloc(8 + kb.length + 4 + 8 + vb.length);
    b.writeBigUInt64LE(BigInt(kb.length), 0);
    kb.copy(b, 8);
    b.writeUInt32LE(8, 8 + kb.length); // string
    b.writeBigUInt64LE(BigInt(vb.length), 12 + kb.length);
    vb.copy(b, 20 + kb.length);
    return b;
  };
  const main = entry(key, value);
  const padKey = 'test.padding';
  const padLength = (32 - ((main.length + 20 + padKey.length) % 32)) % 32;
  const inserted = Buffer.concat([main, entry(padKey, 'x'.repeat(padLength))]);
  assert.equal(inserted.length % 32, 0);
  const out = Buffer.concat([buf.subarray(0, 24), inserted, buf.subarray(24)]);
  out.writeBigUInt64LE(buf.readBigUInt64LE(16) + 2n, 16);
  return out;
}

let n = 0;
/** Writes a patched copy of the good file; returns its path. */
function broken(patch: (buf: Buffer) => Buffer | void): string {
  const buf = Buffer.from(good);
  const path = join(root, `bad-${n++}.gguf`);
  writeFileSync(path, patch(buf) ?? buf);
  return path;
}

function assertOneLine(e: unknown, path: string, fault: RegExp): ModelError {
  assert.ok(e instanceof ModelError, `expected a ModelError, got ${String(e)}`);
  assert.equal(e.file, path);
  assert.match(e.fault, fault);
  assert.equal(e.message, `${path}: ${e.fault}`);
  assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
  return e;
}

const CASES: [string, (buf: Buffer) => Buffer | void, RegExp][] = [
  ['bad magic', (b) => void b.write('GGML', 0), /^not a GGUF file \(bad magic/],
  ['unsupported version', (b) => void b.writeUInt32LE(4, 4), /^GGUF version 4 is not supported \(2 and 3 are\)$/],
  ['truncated header (cut inside the metadata)', (b) => b.subarray(0, 200), /^truncated: the file ends inside metadata/],
  ['truncated data (a tensor runs past the end)', (b) => b.subarray(0, b.length - 100), /^truncated: tensor "output\.weight" \(\d+ bytes at \d+\) runs past the end of the file/],
  ['unknown tensor type id', (b) => void b.writeUInt32LE(99, tensorInfo(b, 'blk.0.attn_q.weight').type), /^tensor "blk\.0\.attn_q\.weight" has unknown ggml type 99, which this runtime cannot read \(supported: F32, F16, .*\)$/],
  ['an i-quant (IQ2_XXS, id 16)', (b) => void b.writeUInt32LE(16, tensorInfo(b, 'blk.0.attn_q.weight').type), /^tensor "blk\.0\.attn_q\.weight" has ggml type IQ2_XXS, which this runtime cannot read/],
  ['missing required metadata', (b) => renameString(b, 'llama.embedding_length', 'llama.embedding_lengtX'), /^missing metadata "llama\.embedding_length"$/],
  ['unsupported general.architecture', (b) => renameString(b, 'llama', 'mamba'), /^unsupported general\.architecture "mamba" \(supported: llama, qwen2, qwen3\)$/],
  ['missing tensor', (b) => renameString(b, 'output_norm.weight', 'output_norm.weighX'), /^missing tensor "output_norm\.weight" \(expected shape \[64\]/],
  ['wrong tensor shape', (b) => void b.writeBigUInt64LE(32n, tensorInfo(b, 'blk.0.ffn_norm.weight').dims), /^tensor "blk\.0\.ffn_norm\.weight" has shape \[32\] \(HF order\) but the metadata implies \[64\]$/],
  ['unsupported rope.scaling.type', (b) => withStringMetadata(b, 'llama.rope.scaling.type', 'linear'), /^unsupported llama\.rope\.scaling\.type "linear" \(supported: yarn, none\)$/],
];

describe('a malformed GGUF is one line naming the file and the fault', () => {
  test('the unpatched file loads, and so does one with a harmless entry inserted (the patches below are all that is wrong)', () => {
    const w = openGguf(join(root, 'good.gguf'));
    assert.equal(w.config.hiddenSize, 64);
    const inserted = openGguf(broken((b) => withStringMetadata(b, 'llama.rope.scaling.type', 'none')));
    assert.deepEqual(readTensor(inserted.lmHead), readTensor(w.lmHead), 'tensor data found where it was');
  });
  for (const [what, patch, fault] of CASES)
    test(what, async () => {
      const path = broken(patch);
      let message = '';
      assert.throws(() => openGguf(path), (e: unknown) => ((message = assertOneLine(e, path, fault).message), true));
      await assert.rejects(Engine.load({ modelDir: path }, quietLog), (e: unknown) => {
        assertOneLine(e, path, fault);
        assert.equal((e as Error).message, message, 'Engine.load surfaces the same line');
        return true;
      });
    });
});

test('over JSON-RPC, a broken GGUF is ModelInvalid with the same line and its file and fault as data', async () => {
  const path = broken(CASES[0][1]);
  const repoRoot = resolve(__dirname, '../../..');
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'runtime/host/main.ts')], { cwd: repoRoot, stdio: 'pipe' });
  const conn = rpc.createMessageConnection(new rpc.StreamMessageReader(child.stdout), new rpc.StreamMessageWriter(child.stdin));
  conn.listen();
  try {
    await assert.rejects(conn.sendRequest(Rpc.load, { modelDir: path }), (e: unknown) => {
      assert.ok(e instanceof rpc.ResponseError, `a JSON-RPC error, got ${String(e)}`);
      assert.equal(e.code, RpcErrors.ModelInvalid);
      assert.match(e.message, /^.*bad-\d+\.gguf: not a GGUF file \(bad magic/);
      assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
      assert.deepEqual(e.data, { file: path, fault: e.message.slice(path.length + 2) });
      return true;
    });
  } finally {
    conn.dispose();
    child.kill();
  }
});
