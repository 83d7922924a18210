// scripts/binaryHeader.mjs on made-up headers: the checks of the per-platform VSIXs
// (test/scripts/package.test.ts) rely on it to tell ELF, PE and Mach-O binaries and their machine
// types apart; here each format's corner cases are pinned without packaging anything.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

type Binary = { format: 'elf' | 'pe' | 'macho'; machines: number[]; arches: string[] } | null;
const load = async () =>
  (await import(pathToFileURL(path.join(__dirname, '../../scripts/binaryHeader.mjs')).href)) as { describeBinary(b: Uint8Array): Binary };

function elf(machine: number, bigEndian = false): Buffer {
  const b = Buffer.alloc(64);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 2; // 64-bit
  b[5] = bigEndian ? 2 : 1;
  if (bigEndian) b.writeUInt16BE(machine, 18);
  else b.writeUInt16LE(machine, 18);
  return b;
}

function pe(machine: number, lfanew = 0x80, signature = 'PE\0\0'): Buffer {
  const b = Buffer.alloc(lfanew + 64);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(lfanew, 0x3c);
  b.write(signature, lfanew, 'latin1');
  b.writeUInt16LE(machine, lfanew + 4);
  return b;
}

function macho(cpu: number, magic = 0xfeedfacf): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(magic, 0);
  b.writeUInt32LE(cpu, 4);
  return b;
}

function fat(cpus: number[], magic = 0xcafebabe): Buffer {
  const record = magic === 0xcafebabf ? 32 : 20;
  const b = Buffer.alloc(8 + cpus.length * record + 16);
  b.writeUInt32BE(magic, 0);
  b.writeUInt32BE(cpus.length, 4);
  cpus.forEach((c, i) => b.writeUInt32BE(c, 8 + i * record));
  return b;
}

test('ELF: e_machine in either byte order', async () => {
  const { describeBinary } = await load();
  assert.deepEqual(describeBinary(elf(0x3e)), { format: 'elf', machines: [0x3e], arches: ['x64'] });
  assert.deepEqual(describeBinary(elf(0xb7)), { format: 'elf', machines: [0xb7], arches: ['arm64'] });
  assert.deepEqual(describeBinary(elf(0xb7, true)), { format: 'elf', machines: [0xb7], arches: ['arm64'] });
  assert.deepEqual(describeBinary(elf(0xf3))?.arches, ['unknown-0xf3']);
});

test('PE: the Machine after the PE signature at e_lfanew', async () => {
  const { describeBinary } = await load();
  assert.deepEqual(describeBinary(pe(0x8664)), { format: 'pe', machines: [0x8664], arches: ['x64'] });
  assert.deepEqual(describeBinary(pe(0xaa64, 0x118)), { format: 'pe', machines: [0xaa64], arches: ['arm64'] });
  assert.deepEqual(describeBinary(pe(0x14c))?.arches, ['ia32']);
  // An MZ stub without the PE signature (a DOS program) is not a Windows binary.
  assert.equal(describeBinary(pe(0x8664, 0x80, 'NE\0\0')), null);
  // e_lfanew past the end of the bytes given.
  assert.equal(describeBinary(pe(0x8664).subarray(0, 0x70)), null);
});

test('Mach-O: thin 64- and 32-bit, and fat/universal binaries listing every architecture', async () => {
  const { describeBinary } = await load();
  assert.deepEqual(describeBinary(macho(0x0100000c)), { format: 'macho', machines: [0x0100000c], arches: ['arm64'] });
  assert.deepEqual(describeBinary(macho(0x01000007)), { format: 'macho', machines: [0x01000007], arches: ['x64'] });
  assert.deepEqual(describeBinary(macho(7, 0xfeedface))?.arches, ['ia32']);
  assert.deepEqual(describeBinary(fat([0x01000007, 0x0100000c])), { format: 'macho', machines: [0x01000007, 0x0100000c], arches: ['x64', 'arm64'] });
  assert.deepEqual(describeBinary(fat([0x0100000c], 0xcafebabf))?.arches, ['arm64']);
  // A Java class file shares 0xCAFEBABE; its next word is a class-file version, not a count.
  const klass = Buffer.alloc(64);
  klass.writeUInt32BE(0xcafebabe, 0);
  klass.writeUInt32BE(0x00000041, 4);
  assert.equal(describeBinary(klass), null);
});

test('anything else (scripts, JSON, empty or short files) is not a native binary', async () => {
  const { describeBinary } = await load();
  for (const bytes of [Buffer.from('{"name":"x"}'), Buffer.from('#!/bin/sh\n'), Buffer.alloc(0), Buffer.from([0x7f, 0x45, 0x4c])]) {
    assert.equal(describeBinary(bytes), null);
  }
});
