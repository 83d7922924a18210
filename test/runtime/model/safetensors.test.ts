import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ModelError } from '../../../runtime/model/errors';
import {
  SafetensorsWriter,
  decodeFloats,
  encodeFloats,
  floatToBf16,
  floatToHalf,
  readSafetensorsHeader,
  writeSafetensors,
} from '../../../runtime/model/safetensors';

const tmp = () => mkdtempSync(join(tmpdir(), 'st-'));

/** A raw file: 8-byte length + the given header text + data bytes. */
function rawFile(path: string, header: string, dataBytes: number): void {
  const h = Buffer.from(header, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(path, Buffer.concat([len, h, Buffer.alloc(dataBytes)]));
}

function faultOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ModelError, `expected a ModelError, got ${e}`);
    return e.fault;
  }
  assert.fail('expected a ModelError');
}

test('write then read: header fields, back-to-back offsets, aligned data, metadata, exact bytes', () => {
  const path = join(tmp(), 'a.safetensors');
  const a = encodeFloats([1, -2, 3.5, 0.25, 7, 8], 'F32');
  const b = encodeFloats([1, 2, 3], 'F16');
  const c = encodeFloats([0.5, -0.5], 'BF16');
  writeSafetensors(path, [
    { name: 'a', dtype: 'F32', shape: [2, 3], data: a },
    { name: 'b', dtype: 'F16', shape: [3], data: b },
    { name: 'c', dtype: 'BF16', shape: [2, 1], data: c },
  ], { format: 'pt' });
  const h = readSafetensorsHeader(path);
  assert.equal(h.dataStart % 8, 0, 'data section 8-byte aligned');
  assert.equal(h.dataStart, 8 + h.headerLength);
  assert.deepEqual(h.metadata, { format: 'pt' });
  assert.deepEqual(h.tensors.get('a'), { dtype: 'F32', shape: [2, 3], dataOffsets: [0, 24] });
  assert.deepEqual(h.tensors.get('b'), { dtype: 'F16', shape: [3], dataOffsets: [24, 30] });
  assert.deepEqual(h.tensors.get('c'), { dtype: 'BF16', shape: [2, 1], dataOffsets: [30, 34] });
  assert.equal(h.fileSize, h.dataStart + 34);
  const file = readFileSync(path);
  assert.deepEqual([...decodeFloats(file.subarray(h.dataStart, h.dataStart + 24), 'F32')], [1, -2, 3.5, 0.25, 7, 8]);
  assert.deepEqual([...decodeFloats(file.subarray(h.dataStart + 24, h.dataStart + 30), 'F16')], [1, 2, 3]);
  assert.deepEqual([...decodeFloats(file.subarray(h.dataStart + 30, h.dataStart + 34), 'BF16')], [0.5, -0.5]);
});

test('streaming writer: chunks may split a tensor, must not overrun it, and must complete it', () => {
  const dir = tmp();
  const w = new SafetensorsWriter(join(dir, 's.safetensors'), [
    { name: 'x', dtype: 'F32', shape: [4] },
    { name: 'empty', dtype: 'F32', shape: [0] },
    { name: 'y', dtype: 'F16', shape: [2] },
  ]);
  w.write(encodeFloats([1, 2], 'F32'));
  w.write(encodeFloats([3, 4], 'F32'));
  assert.throws(() => w.write(new Uint8Array(6)), /overruns tensor "y"/);
  w.write(encodeFloats([5, 6], 'F16'));
  w.close();
  const h = readSafetensorsHeader(join(dir, 's.safetensors'));
  assert.deepEqual(h.tensors.get('empty')?.dataOffsets, [16, 16]);
  const short = new SafetensorsWriter(join(dir, 't.safetensors'), [{ name: 'x', dtype: 'F32', shape: [4] }]);
  short.write(new Uint8Array(4));
  assert.throws(() => short.close(), /closed before tensor "x" was fully written/);
  assert.throws(() => writeSafetensors(join(dir, 'u.safetensors'), [{ name: 'x', dtype: 'F32', shape: [3], data: new Uint8Array(8) }]), /needs 12 bytes, got 8/);
});

test('F16 encoding: rounding to nearest even, subnormals, overflow, specials', () => {
  assert.equal(floatToHalf(1), 0x3c00);
  assert.equal(floatToHalf(-2), 0xc000);
  assert.equal(floatToHalf(65504), 0x7bff);
  assert.equal(floatToHalf(65520), 0x7c00, 'rounds up to infinity');
  assert.equal(floatToHalf(2 ** -24), 0x0001, 'smallest subnormal');
  assert.equal(floatToHalf(2 ** -25), 0x0000, 'halfway to zero: ties to even');
  assert.equal(floatToHalf(1.5 * 2 ** -24), 0x0002, 'halfway between 1 and 2 subnormal steps: ties to even');
  assert.equal(floatToHalf(1 / 3), 0x3555);
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00, 'halfway: ties to even (down)');
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02, 'halfway: ties to even (up)');
  assert.equal(floatToHalf(-0), 0x8000);
  assert.equal(floatToHalf(Infinity), 0x7c00);
  assert.ok(Number.isNaN(decodeFloats(encodeFloats([NaN], 'F16'), 'F16')[0]));
  // Every finite half survives decode -> encode unchanged.
  const all = new Uint16Array(65536).map((_, i) => i);
  const decoded = decodeFloats(new Uint8Array(all.buffer), 'F16');
  for (let h = 0; h < 65536; h++) if (!Number.isNaN(decoded[h])) assert.equal(floatToHalf(decoded[h]), h);
});

test('BF16 encoding: top half of float32 with round to nearest even', () => {
  assert.equal(floatToBf16(1), 0x3f80);
  assert.equal(floatToBf16(1 + 2 ** -8), 0x3f80, 'halfway: ties to even (down)');
  assert.equal(floatToBf16(1 + 3 * 2 ** -8), 0x3f82, 'halfway: ties to even (up)');
  assert.equal(floatToBf16(1 + 2 ** -8 + 2 ** -20), 0x3f81, 'above halfway rounds up');
  assert.equal(floatToBf16(-3), 0xc040);
  assert.ok(Number.isNaN(decodeFloats(encodeFloats([NaN], 'BF16'), 'BF16')[0]));
  const vals = Float32Array.from([0.1, -1234.5, 3e-30, 7]);
  const enc = encodeFloats(vals, 'BF16');
  const u16 = new Uint16Array(enc.buffer, enc.byteOffset, 4);
  for (let i = 0; i < 4; i++) assert.equal(u16[i], floatToBf16(vals[i]), 'bulk path = scalar path');
  const back = decodeFloats(enc, 'BF16');
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(back[i] - vals[i]) <= Math.abs(vals[i]) * 2 ** -8);
});

test('header validation: too short, absurd length, bad entries, size mismatch, overlap', () => {
  const dir = tmp();
  const p = join(dir, 'x.safetensors');
  writeFileSync(p, Buffer.alloc(5));
  assert.match(faultOf(() => readSafetensorsHeader(p)), /too short/);
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(1n << 40n);
  writeFileSync(p, huge);
  assert.match(faultOf(() => readSafetensorsHeader(p)), /implausibly large/);
  rawFile(p, '{"t":{"dtype":"F32","shape":[2]}}', 8);
  assert.match(faultOf(() => readSafetensorsHeader(p)), /tensor "t" needs dtype, shape and data_offsets/);
  rawFile(p, '{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8);
  assert.match(faultOf(() => readSafetensorsHeader(p)), /needs 12 bytes but its data_offsets span 8/);
  rawFile(p, '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', 12);
  assert.match(faultOf(() => readSafetensorsHeader(p)), /tensors "a" \[0, 8\] and "b" \[4, 12\] overlap/);
  rawFile(p, '{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}', 12);
  assert.match(faultOf(() => readSafetensorsHeader(p)), /end before they begin/);
  // Unknown dtypes are not this reader's business (the loader rejects them by name).
  rawFile(p, '{"q":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,3]}}', 3);
  assert.equal(readSafetensorsHeader(p).tensors.get('q')?.dtype, 'Q4_K');
});
