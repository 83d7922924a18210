// Tells what a native binary is from its first bytes: ELF, PE (a Windows DLL or .node) or Mach-O
// (thin, or a fat/universal binary holding several architectures), and for which machine. Used to
// check that each platform's VSIX carries only that platform's onnxruntime binaries.
//
//   ELF:    7F 'E' 'L' 'F'; EI_DATA (byte 5) gives the byte order; e_machine is the u16 at 18.
//   PE:     'MZ'; e_lfanew (u32 LE at 0x3C) points at 'PE\0\0', followed by the u16 LE Machine.
//   Mach-O: magic 0xFEEDFACF (64-bit) or 0xFEEDFACE (32-bit) in the file's byte order, followed
//           by the cputype; fat: big-endian 0xCAFEBABE (0xCAFEBABF for 64-bit offsets), the
//           number of architectures, then one record (cputype first) per architecture.

const ELF_MACHINES = { 0x03: 'ia32', 0x28: 'arm', 0x3e: 'x64', 0xb7: 'arm64' };
const PE_MACHINES = { 0x014c: 'ia32', 0x01c4: 'arm', 0x8664: 'x64', 0xaa64: 'arm64' };
const MACHO_CPUS = { 0x00000007: 'ia32', 0x01000007: 'x64', 0x0000000c: 'arm', 0x0100000c: 'arm64' };

/**
 * @param {Uint8Array} bytes the start of a file (all of it, or at least its headers)
 * @returns {{ format: 'elf' | 'pe' | 'macho', machines: number[], arches: string[] } | null}
 *   `machines`: the raw machine/cpu type (one per architecture of a fat Mach-O); `arches`: the
 *   same as Node's process.arch names ('x64', 'arm64', ...; 'unknown-0x..' otherwise); null when
 *   the bytes are none of these formats.
 */
export function describeBinary(bytes) {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const has = (n) => buf.length >= n;
  const name = (table, m) => table[m] ?? `unknown-0x${m.toString(16)}`;

  if (has(20) && buf.readUInt32BE(0) === 0x7f454c46) {
    const machine = buf[5] === 2 ? buf.readUInt16BE(18) : buf.readUInt16LE(18);
    return { format: 'elf', machines: [machine], arches: [name(ELF_MACHINES, machine)] };
  }

  if (has(64) && buf[0] === 0x4d && buf[1] === 0x5a) {
    const pe = buf.readUInt32LE(0x3c);
    if (has(pe + 6) && buf.readUInt32BE(pe) === 0x50450000) {
      const machine = buf.readUInt16LE(pe + 4);
      return { format: 'pe', machines: [machine], arches: [name(PE_MACHINES, machine)] };
    }
    return null;
  }

  if (has(8)) {
    const le = buf.readUInt32LE(0);
    if (le === 0xfeedfacf || le === 0xfeedface) {
      const machine = buf.readUInt32LE(4);
      return { format: 'macho', machines: [machine], arches: [name(MACHO_CPUS, machine)] };
    }
    const be = buf.readUInt32BE(0);
    if (be === 0xfeedfacf || be === 0xfeedface) {
      const machine = buf.readUInt32BE(4);
      return { format: 'macho', machines: [machine], arches: [name(MACHO_CPUS, machine)] };
    }
    if (be === 0xcafebabe || be === 0xcafebabf) {
      const count = buf.readUInt32BE(4);
      // A Java class file shares the magic; its next word is a class-file version (45 or more).
      if (count === 0 || count > 30) return null;
      const record = be === 0xcafebabf ? 32 : 20;
      if (!has(8 + count * record)) return null;
      const machines = [];
      for (let i = 0; i < count; i++) machines.push(buf.readUInt32BE(8 + i * record));
      return { format: 'macho', machines, arches: machines.map((m) => name(MACHO_CPUS, m)) };
    }
  }
  return null;
}
