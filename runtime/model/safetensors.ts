// The safetensors file format: 8-byte little-endian header length, a JSON header mapping
// tensor names to {dtype, shape, data_offsets}, then the raw little-endian data.
// Reading here touches only the header (weights are mapped lazily by offset); writing streams,
// so multi-gigabyte files never sit in memory.
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { ModelError } from './errors';

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  /** [begin, end) relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  path: string;
  headerLength: number;
  /** Absolute file offset of the data section (8 + headerLength). */
  dataStart: number;
  fileSize: number;
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

/** Bytes per element of every dtype the format defines (we decode only F32/F16/BF16). */
export const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  U16: 2, I16: 2, F16: 2, BF16: 2,
  U32: 4, I32: 4, F32: 4,
  U64: 8, I64: 8, F64: 8,
};

/** Headers this large are not real models; refusing them avoids a huge allocation on junk. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function readExactly(fd: number, buf: Uint8Array, position: number): number {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0);
}

function isOffsets(v: unknown): v is [number, number] {
  return Array.isArray(v) && v.length === 2 && v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Reads and validates the header of a .safetensors file; never reads tensor data. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModelError(path, code === 'ENOENT' ? 'file not found' : `cannot be opened (${(e as Error).message})`);
  }
  try {
    const fileSize = fstatSync(fd).size;
    if (fileSize < 8) throw new ModelError(path, `not a safetensors file: ${fileSize} bytes, too short for the 8-byte header length`);
    const lenBuf = new Uint8Array(8);
    readExactly(fd, lenBuf, 0);
    const headerLength64 = new DataView(lenBuf.buffer).getBigUint64(0, true);
    if (headerLength64 > BigInt(MAX_HEADER_BYTES)) throw new ModelError(path, `not a safetensors file: header length ${headerLength64} is implausibly large`);
    const headerLength = Number(headerLength64);
    if (headerLength < 2) throw new ModelError(path, `not a safetensors file: header length ${headerLength} is too small`);
    if (8 + headerLength > fileSize) throw new ModelError(path, `truncated: the header needs ${8 + headerLength} bytes but the file has ${fileSize}`);
    const headerBytes = new Uint8Array(headerLength);
    readExactly(fd, headerBytes, 8);
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
    } catch (e) {
      throw new ModelError(path, `corrupt header JSON (${(e as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelError(path, 'corrupt header: the JSON header is not an object');

    const dataStart = 8 + headerLength;
    const dataSize = fileSize - dataStart;
    const tensors = new Map<string, SafetensorsEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
          throw new ModelError(path, 'corrupt header: __metadata__ must map strings to strings');
        }
        metadata = raw as Record<string, string>;
        continue;
      }
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
      if (typeof e !== 'object' || e === null || typeof e.dtype !== 'string' || !isShape(e.shape) || !isOffsets(e.data_offsets)) {
        throw new ModelError(path, `corrupt header: tensor "${name}" needs dtype, shape and data_offsets`);
      }
      const [begin, end] = e.data_offsets;
      if (end < begin) throw new ModelError(path, `corrupt header: tensor "${name}" has data_offsets [${begin}, ${end}] that end before they begin`);
      const bytes = DTYPE_BYTES[e.dtype];
      if (bytes !== undefined && elementCount(e.shape) * bytes !== end - begin) {
        throw new ModelError(path, `corrupt header: tensor "${name}" (${e.dtype} [${e.shape.join(', ')}]) needs ${elementCount(e.shape) * bytes} bytes but its data_offsets span ${end - begin}`);
      }
      if (end > dataSize) {
        throw new ModelError(path, `truncated: tensor "${name}" ends at data byte ${end} but the file holds only ${dataSize} bytes of data`);
      }
      tensors.set(name, { dtype: e.dtype, shape: e.shape, dataOffsets: [begin, end] });
    }

    // Tensors must tile the data section without overlapping (the format's writers lay them
    // out back to back); overlap means the header was damaged or hand-edited.
    const ordered = [...tensors.entries()].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
    for (let i = 1; i < ordered.length; i++) {
      const [prevName, prev] = ordered[i - 1];
      const [name, cur] = ordered[i];
      if (cur.dataOffsets[0] < prev.dataOffsets[1]) {
        throw new ModelError(path, `corrupt header: tensors "${prevName}" [${prev.dataOffsets.join(', ')}] and "${name}" [${cur.dataOffsets.join(', ')}] overlap`);
      }
    }
    return { path, headerLength, dataStart, fileSize, tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

export type FloatDType = 'F32' | 'F16' | 'BF16';

export interface TensorSpec {
  name: string;
  dtype: FloatDType;
  shape: number[];
}

/**
 * A safetensors file being written: the header goes out first (it only needs names, dtypes and
 * shapes), then each tensor's bytes in order, in as many `write` calls as the caller likes.
 */
export class SafetensorsWriter {
  private readonly fd: number;
  private readonly sizes: number[];
  private index = 0;
  private writtenInTensor = 0;
  private closed = false;

  constructor(
    readonly path: string,
    readonly specs: readonly TensorSpec[],
    metadata?: Record<string, string>,
  ) {
    const header: Record<string, unknown> = {};
    if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
    this.sizes = [];
    let offset = 0;
    for (const s of specs) {
      if (s.name === '__metadata__' || Object.prototype.hasOwnProperty.call(header, s.name)) throw new Error(`safetensors: duplicate or reserved tensor name "${s.name}"`);
      const size = elementCount(s.shape) * DTYPE_BYTES[s.dtype];
      header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + size] };
      this.sizes.push(size);
      offset += size;
    }
    let json = JSON.stringify(header);
    // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
    const raw = Buffer.byteLength(json, 'utf8');
    json += ' '.repeat((8 - (raw % 8)) % 8);
    const headerBytes = Buffer.from(json, 'utf8');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(headerBytes.length));
    this.fd = openSync(path, 'w');
    try {
      this.writeAll(prefix);
      this.writeAll(headerBytes);
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
    this.skipEmpty();
  }

  private writeAll(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
  }

  private skipEmpty(): void {
    while (this.index < this.sizes.length && this.sizes[this.index] === 0) this.index++;
  }

  /** Appends bytes of the current tensor (a chunk may not cross into the next tensor). */
  write(chunk: Uint8Array): void {
    if (this.closed) throw new Error(`safetensors: ${this.path} is already closed`);
    if (this.index >= this.specs.length) throw new Error(`safetensors: ${this.path}: more data than the header announced`);
    const left = this.sizes[this.index] - this.writtenInTensor;
    if (chunk.length > left) throw new Error(`safetensors: ${this.path}: chunk of ${chunk.length} bytes overruns tensor "${this.specs[this.index].name}" (${left} bytes left)`);
    this.writeAll(chunk);
    this.writtenInTensor += chunk.length;
    if (this.writtenInTensor === this.sizes[this.index]) {
      this.index++;
      this.writtenInTensor = 0;
      this.skipEmpty();
    }
  }

  /** Closes the file after a failure elsewhere, without the completeness check. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  /** Closes the file; throws if any tensor is short of data. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    if (this.index < this.specs.length) throw new Error(`safetensors: ${this.path}: closed before tensor "${this.specs[this.index].name}" was fully written`);
  }
}

/** Writes a whole safetensors file from in-memory tensors (streamed to disk one tensor at a time). */
export function writeSafetensors(
  path: string,
  tensors: { name: string; dtype: FloatDType; shape: number[]; data: Uint8Array }[],
  metadata?: Record<string, string>,
): void {
  for (const t of tensors) {
    const want = elementCount(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.length !== want) throw new Error(`safetensors: tensor "${t.name}" (${t.dtype} [${t.shape.join(', ')}]) needs ${want} bytes, got ${t.data.length}`);
  }
  const w = new SafetensorsWriter(path, tensors, metadata);
  try {
    // Large tensors go out in slices: writeSync caps a single call at ~2 GB.
    const SLICE = 1 << 28;
    for (const t of tensors) for (let o = 0; o < t.data.length; o += SLICE) w.write(t.data.subarray(o, Math.min(o + SLICE, t.data.length)));
  } catch (e) {
    w.abort();
    throw e;
  }
  w.close();
}

// ---------------------------------------------------------------------------------------------
// Float encodings (little-endian, as the format stores them)
// ---------------------------------------------------------------------------------------------

let f16Table: Float32Array | null = null;

/** All 65536 half-precision values, built once: decoding is then one lookup per element. */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  f16Table = t;
  return t;
}

/** IEEE half bits -> its value. */
export function halfToFloat(h: number): number {
  return halfTable()[h & 0xffff];
}

/** Decodes little-endian F32/F16/BF16 bytes into float32 values. */
export function decodeFloats(bytes: Uint8Array, dtype: FloatDType): Float32Array {
  const n = bytes.length / DTYPE_BYTES[dtype];
  if (!Number.isInteger(n)) throw new Error(`${bytes.length} bytes is not a whole number of ${dtype} values`);
  if (dtype === 'F32') {
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n).slice();
    return new Float32Array(bytes.slice().buffer);
  }
  const u16 = bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, n) : new Uint16Array(bytes.slice().buffer);
  const out = new Float32Array(n);
  if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = u16[i] << 16;
  } else {
    const t = halfTable();
    for (let i = 0; i < n; i++) out[i] = t[u16[i]];
  }
  return out;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 -> IEEE half, round to nearest even, with subnormals, overflow to infinity. */
export function floatToHalf(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    // Subnormal: shift the mantissa (with its implicit 1) right, rounding to nearest even.
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa rolls into the exponent, which is the correct rounding.
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** float32 -> bfloat16 bits, round to nearest even (NaN stays NaN). */
export function floatToBf16(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Encodes float values as little-endian F32/F16/BF16 bytes. */
export function encodeFloats(values: ArrayLike<number>, dtype: FloatDType): Uint8Array {
  const n = values.length;
  if (dtype === 'F32') {
    const f = Float32Array.from(values);
    return new Uint8Array(f.buffer);
  }
  const out = new Uint16Array(n);
  if (dtype === 'BF16') {
    // Bulk path: the same rounding as floatToBf16, without the per-call scratch round trip.
    const f = values instanceof Float32Array ? values : Float32Array.from(values);
    const bits = new Uint32Array(f.buffer, f.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const b = bits[i];
      out[i] = (b & 0x7f800000) === 0x7f800000 && b & 0x7fffff ? ((b >>> 16) | 0x40) & 0xffff : ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
    }
  } else {
    for (let i = 0; i < n; i++) out[i] = floatToHalf(values[i]);
  }
  return new Uint8Array(out.buffer);
}
