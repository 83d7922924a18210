// Lists the entries of a zip file (a VSIX) from its central directory: name, stored and
// uncompressed size. Enough to report what a package contains without an unzip tool; zip64
// archives (over 4 GiB or 65535 entries) are out of scope for a VSIX and rejected. openZip also
// reads an entry's bytes (stored, or deflated: what vsce writes), checking its size and CRC-32.
import { readFileSync } from 'node:fs';
import * as zlib from 'node:zlib';

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/**
 * @typedef {{ name: string, compressedSize: number, size: number, method: number, crc: number, localOffset: number }} ZipEntry
 */

/** @param {Buffer} buf @param {string} file @returns {ZipEntry[]} */
function centralDirectory(buf, file) {
  // The end-of-central-directory record is 22 bytes plus a comment of up to 65535 bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${file}: not a zip archive (no end-of-central-directory record)`);
  const count = buf.readUInt16LE(eocd + 10);
  let offset = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || offset === 0xffffffff) throw new Error(`${file}: zip64 archives are not supported`);
  const entries = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(offset) !== CENTRAL) throw new Error(`${file}: corrupt central directory at entry ${n}`);
    const method = buf.readUInt16LE(offset + 10);
    const crc = buf.readUInt32LE(offset + 16);
    const compressedSize = buf.readUInt32LE(offset + 20);
    const size = buf.readUInt32LE(offset + 24);
    const nameLen = buf.readUInt16LE(offset + 28);
    const extraLen = buf.readUInt16LE(offset + 30);
    const commentLen = buf.readUInt16LE(offset + 32);
    const localOffset = buf.readUInt32LE(offset + 42);
    const name = buf.toString('utf8', offset + 46, offset + 46 + nameLen);
    entries.push({ name, compressedSize, size, method, crc, localOffset });
    offset += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** @returns {{ name: string, compressedSize: number, size: number }[]} */
export function listZip(file) {
  return centralDirectory(readFileSync(file), file).map(({ name, compressedSize, size }) => ({ name, compressedSize, size }));
}

/**
 * Reads the archive once; `read(entry)` returns an entry's uncompressed bytes.
 * @returns {{ entries: ZipEntry[], read(entry: ZipEntry): Buffer }}
 */
export function openZip(file) {
  const buf = readFileSync(file);
  const entries = centralDirectory(buf, file);
  const read = (entry) => {
    const at = entry.localOffset;
    if (buf.readUInt32LE(at) !== LOCAL) throw new Error(`${file}: no local header for ${entry.name}`);
    // The local header's name and extra field lengths may differ from the central directory's.
    const start = at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28);
    const stored = buf.subarray(start, start + entry.compressedSize);
    let data;
    if (entry.method === 0) data = Buffer.from(stored);
    else if (entry.method === 8) data = zlib.inflateRawSync(stored);
    else throw new Error(`${file}: ${entry.name} uses unsupported compression method ${entry.method}`);
    if (data.length !== entry.size) throw new Error(`${file}: ${entry.name} inflates to ${data.length} bytes, not ${entry.size}`);
    // zlib.crc32 is in Node 20.15 and later; earlier 20.x skip the check.
    if (typeof zlib.crc32 === 'function' && zlib.crc32(data) !== entry.crc) throw new Error(`${file}: ${entry.name} fails its CRC-32 check`);
    return data;
  };
  return { entries, read };
}
