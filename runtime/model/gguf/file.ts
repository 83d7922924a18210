// The GGUF container (llama.cpp's model file), read lazily: the header, metadata and tensor table
// are parsed; tensor bytes are only located (absolute offset and length), never read here.
//
// Format (versions 2 and 3; little-endian): magic "GGUF", u32 version, u64 tensor count, u64
// metadata count; metadata as (string key, u32 value type, value); tensor infos as (string name,
// u32 n_dims, u64 dims innermost first, u32 ggml type, u64 offset from the data section); then the
// data section, which starts at the next multiple of `general.alignment` (default 32).
// Strings are a u64 byte length and UTF-8 bytes. Every fault is one line naming the file.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ModelError } from '../errors';
import { GGML_TYPES, READABLE_TYPES, tensorBytes, UNREAD_TYPE_NAMES, type GgmlType } from './types';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32

/** Metadata values as they come out of the file; arrays of numbers stay typed arrays. */
export type GgufValue = number | bigint | boolean | string | GgufValue[] | ArrayLike<number>;

export interface GgufTensorInfo {
  name: string;
  /** ggml order: innermost (contiguous) dimension first. */
  dims: number[];
  type: GgmlType;
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  path: string;
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: Map<string, GgufTensorInfo>;
  /** Absolute offset of the data section. */
  dataStart: number;
  fileSize: number;
}

/** Metadata value types (gguf_type). */
export const enum VType {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
}

/** Sizes past these are corrupt files, not models: refusing them avoids huge allocations. */
const MAX_STRING_BYTES = 64 * 1024 * 1024;
const MAX_COUNT = 1 << 28;

/** Sequential reads over a file descriptor through a window that grows on demand. */
class Cursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly fail: (fault: string) => never,
  ) {}

  /** Makes [pos, pos + n) readable and returns its index in `buf` (read `buf` only after calling this: it may be replaced). */
  private need(n: number, what: string): number {
    if (this.pos + n > this.size) this.fail(`truncated: the file ends inside ${what} (at byte ${this.pos} of ${this.size})`);
    const end = this.pos + n;
    if (this.pos < this.bufStart || end > this.bufStart + this.buf.length) {
      const length = Math.min(this.size - this.pos, Math.max(n, 1 << 20));
      const buf = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const r = readSync(this.fd, buf, done, length - done, this.pos + done);
        if (r === 0) break;
        done += r;
      }
      if (done < n) this.fail(`truncated: the file ends inside ${what}`);
      this.buf = buf;
      this.bufStart = this.pos;
    }
    const at = this.pos - this.bufStart;
    this.pos = end;
    return at;
  }

  u8(what: string): number {
    const at = this.need(1, what);
    return this.buf.readUInt8(at);
  }
  i8(what: string): number {
    const at = this.need(1, what);
    return this.buf.readInt8(at);
  }
  u16(what: string): number {
    const at = this.need(2, what);
    return this.buf.readUInt16LE(at);
  }
  i16(what: string): number {
    const at = this.need(2, what);
    return this.buf.readInt16LE(at);
  }
  u32(what: string): number {
    const at = this.need(4, what);
    return this.buf.readUInt32LE(at);
  }
  i32(what: string): number {
    const at = this.need(4, what);
    return this.buf.readInt32LE(at);
  }
  f32(what: string): number {
    const at = this.need(4, what);
    return this.buf.readFloatLE(at);
  }
  f64(what: string): number {
    const at = this.need(8, what);
    return this.buf.readDoubleLE(at);
  }
  i64(what: string): bigint {
    const at = this.need(8, what);
    return this.buf.readBigInt64LE(at);
  }
  /** A u64 that must fit a JS number (sizes, counts, offsets). */
  u64(what: string): number {
    const at = this.need(8, what);
    const v = this.buf.readBigUInt64LE(at);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} is ${v}, beyond any real file`);
    return Number(v);
  }
  /** A u64 metadata value: a number when exact, else a bigint. */
  u64Value(what: string): number | bigint {
    const at = this.need(8, what);
    const v = this.buf.readBigUInt64LE(at);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  str(what: string): string {
    const n = this.u64(`the length of ${what}`);
    if (n > MAX_STRING_BYTES) this.fail(`${what} claims ${n} bytes`);
    const at = this.need(n, what);
    return this.buf.toString('utf8', at, at + n);
  }
}

function readValue(c: Cursor, type: number, what: string, fail: (fault: string) => never): GgufValue {
  switch (type) {
    case VType.U8:
      return c.u8(what);
    case VType.I8:
      return c.i8(what);
    case VType.U16:
      return c.u16(what);
    case VType.I16:
      return c.i16(what);
    case VType.U32:
      return c.u32(what);
    case VType.I32:
      return c.i32(what);
    case VType.F32:
      return c.f32(what);
    case VType.F64:
      return c.f64(what);
    case VType.U64:
      return c.u64Value(what);
    case VType.I64: {
      const v = c.i64(what);
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case VType.BOOL: {
      const b = c.u8(what);
      if (b > 1) fail(`${what}: a bool holds ${b}`);
      return b === 1;
    }
    case VType.STRING:
      return c.str(what);
    case VType.ARRAY: {
      const elem = c.u32(`the element type of ${what}`);
      const n = c.u64(`the length of ${what}`);
      if (n > MAX_COUNT) fail(`${what} claims ${n} elements`);
      if (elem === VType.ARRAY) fail(`${what}: nested arrays are not part of GGUF`);
      // Numeric arrays (token types, scores) become typed arrays: vocabularies hold 150k entries.
      if (elem === VType.I32) return Int32Array.from({ length: n }, () => c.i32(what));
      if (elem === VType.F32) return Float32Array.from({ length: n }, () => c.f32(what));
      if (elem === VType.U32) return Uint32Array.from({ length: n }, () => c.u32(what));
      const out: GgufValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(c, elem, what, fail);
      return out;
    }
    default:
      return fail(`${what} has unknown value type ${type}`);
  }
}

/** Reads and validates a GGUF file's header, metadata and tensor table; never reads tensor data. */
export function readGguf(path: string): GgufFile {
  const fail = (fault: string): never => {
    throw new ModelError(path, fault);
  };
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return fail(`cannot be opened (${(e as Error).message})`);
  }
  try {
    const size = fstatSync(fd).size;
    const c = new Cursor(fd, size, fail);
    if (size < 4 || c.u32('the magic') !== GGUF_MAGIC) fail('not a GGUF file (bad magic: it must start with "GGUF")');
    const version = c.u32('the version');
    if (version !== 2 && version !== 3) fail(`GGUF version ${version} is not supported (2 and 3 are)`);
    const tensorCount = c.u64('the tensor count');
    const metaCount = c.u64('the metadata count');
    if (tensorCount > MAX_COUNT || metaCount > MAX_COUNT) fail(`claims ${tensorCount} tensors and ${metaCount} metadata entries`);

    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < metaCount; i++) {
      const key = c.str(`metadata key ${i}`);
      const type = c.u32(`the type of metadata "${key}"`);
      metadata.set(key, readValue(c, type, `metadata "${key}"`, fail));
    }
    const alignment = metadata.get('general.alignment') ?? 32;
    if (typeof alignment !== 'number' || !Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0)
      fail(`general.alignment must be a power of two, got ${String(alignment)}`);

    const infos: { name: string; dims: number[]; type: GgmlType; rel: number }[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = c.str(`tensor name ${i}`);
      const nDims = c.u32(`the rank of tensor "${name}"`);
      if (nDims < 1 || nDims > 4) fail(`tensor "${name}" has ${nDims} dimensions (1 to 4 are valid)`);
      const dims = Array.from({ length: nDims }, () => c.u64(`a dimension of tensor "${name}"`));
      const typeId = c.u32(`the type of tensor "${name}"`);
      const type = GGML_TYPES.get(typeId);
      if (!type) {
        const known = UNREAD_TYPE_NAMES.get(typeId);
        fail(`tensor "${name}" has ${known ? `ggml type ${known}` : `unknown ggml type ${typeId}`}, which this runtime cannot read (supported: ${READABLE_TYPES.join(', ')})`);
      }
      const rel = c.u64(`the offset of tensor "${name}"`);
      if (rel % (alignment as number) !== 0) fail(`tensor "${name}" starts at offset ${rel}, not a multiple of the alignment ${alignment}`);
      infos.push({ name, dims, type: type!, rel });
    }
    const a = alignment as number;
    const dataStart = Math.ceil(c.pos / a) * a;
    const tensors = new Map<string, GgufTensorInfo>();
    for (const t of infos) {
      if (tensors.has(t.name)) fail(`tensor "${t.name}" appears twice`);
      const n = t.dims.reduce((x, y) => x * y, 1);
      if (t.dims[0] % t.type.blockSize !== 0) fail(`tensor "${t.name}" rows of ${t.dims[0]} values do not split into ${t.type.name} blocks of ${t.type.blockSize}`);
      const byteLength = tensorBytes(t.type, n);
      const offset = dataStart + t.rel;
      if (offset + byteLength > size) fail(`truncated: tensor "${t.name}" (${byteLength} bytes at ${offset}) runs past the end of the file (${size} bytes)`);
      tensors.set(t.name, { name: t.name, dims: t.dims, type: t.type, offset, byteLength });
    }
    return { path, version, metadata, tensors, dataStart, fileSize: size };
  } finally {
    closeSync(fd);
  }
}

/** Typed metadata access that fails with one line naming the file and the key. */
export class GgufMetadata {
  constructor(private readonly file: GgufFile) {}

  private fail(fault: string): never {
    throw new ModelError(this.file.path, fault);
  }

  has(key: string): boolean {
    return this.file.metadata.has(key);
  }

  string(key: string): string;
  string(key: string, fallback: string | null): string | null;
  string(key: string, fallback?: string | null): string | null {
    const v = this.file.metadata.get(key);
    if (v === undefined) return fallback !== undefined ? fallback : this.fail(`missing metadata "${key}"`);
    if (typeof v !== 'string') this.fail(`metadata "${key}" must be a string`);
    return v;
  }

  number(key: string, fallback?: number): number {
    const v = this.file.metadata.get(key);
    if (v === undefined) return fallback !== undefined ? fallback : this.fail(`missing metadata "${key}"`);
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`metadata "${key}" must be a number, got ${String(v)}`);
    return v;
  }

  positiveInt(key: string, fallback?: number): number {
    const v = this.number(key, fallback);
    if (!Number.isInteger(v) || v <= 0) this.fail(`metadata "${key}" must be a positive integer, got ${v}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.file.metadata.get(key);
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(`metadata "${key}" must be true or false`);
    return v;
  }

  strings(key: string): string[];
  strings(key: string, optional: true): string[] | null;
  strings(key: string, optional = false): string[] | null {
    const v = this.file.metadata.get(key);
    if (v === undefined) return optional ? null : this.fail(`missing metadata "${key}"`);
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) this.fail(`metadata "${key}" must be an array of strings`);
    return v as string[];
  }

  numbers(key: string): ArrayLike<number> | null {
    const v = this.file.metadata.get(key);
    if (v === undefined) return null;
    if (typeof v !== 'object' || v === null || typeof (v as ArrayLike<number>).length !== 'number') this.fail(`metadata "${key}" must be an array of numbers`);
    const a = v as ArrayLike<number> | GgufValue[];
    if (Array.isArray(a) && !a.every((x) => typeof x === 'number')) this.fail(`metadata "${key}" must be an array of numbers`);
    return a as ArrayLike<number>;
  }
}
